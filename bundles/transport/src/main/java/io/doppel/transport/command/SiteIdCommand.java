package io.doppel.transport.command;

import io.doppel.transport.internal.LocalSite;
import io.doppel.transport.internal.TransportAdmin;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "site-id",
        description = "Prints this site's id, name, certificate fingerprint and the address peers dial")
public class SiteIdCommand implements Action {

    @Reference
    TransportAdmin transport;

    @Option(name = "-j", aliases = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Object execute() throws Exception {
        LocalSite site = transport.localSite();
        if (json) {
            System.out.println(Json.write(site));
            return null;
        }
        System.out.println("Site id:     " + site.id());
        System.out.println("Name:        " + site.name());
        System.out.println("Fingerprint: " + site.fingerprint());
        System.out.println("Listening:   " + site.listenAddress() + (site.listening() ? "" : " (not bound, see the log)"));
        System.out.println("On the other site: doppel:peer-add --fingerprint " + site.fingerprint() + " NAME "
                + site.listenAddress());
        return null;
    }
}
