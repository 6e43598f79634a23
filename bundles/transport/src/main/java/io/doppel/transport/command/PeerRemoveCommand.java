package io.doppel.transport.command;

import io.doppel.transport.internal.TransportAdmin;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "peer-remove", description = "Stops trusting a peer site and closes its link")
public class PeerRemoveCommand implements Action {

    @Reference
    TransportAdmin transport;

    @Argument(index = 0, name = "name", description = "The peer's name", required = true)
    @Completion(PeerNameCompleter.class)
    String name;

    @Override
    public Object execute() throws Exception {
        transport.removePeer(name);
        System.out.println("Removed peer " + name + "; its certificate is no longer accepted");
        return null;
    }
}
