package io.doppel.transport.command;

import io.doppel.api.transport.PeerInfo;
import io.doppel.transport.internal.TransportAdmin;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Service
@Command(scope = "doppel", name = "peer-add", description = "Trusts a peer site by its certificate fingerprint"
        + " (options go before the name)")
public class PeerAddCommand implements Action {

    @Reference
    TransportAdmin transport;

    @Option(name = "-f", aliases = "--fingerprint", description = "The peer's certificate fingerprint, as"
            + " doppel:site-id prints it there (required; ':' optional, any case)")
    String fingerprint;

    @Option(name = "-j", aliases = "--json", description = "Print the new peer as JSON")
    boolean json;

    @Argument(index = 0, name = "name", description = "Name for the peer on this site", required = true)
    String name;

    @Argument(index = 1, name = "address", description = "host:port to dial; omit when only the peer dials this"
            + " site")
    String address;

    @Override
    public Object execute() throws Exception {
        if (fingerprint == null || fingerprint.isBlank()) {
            throw new IllegalArgumentException("--fingerprint is required: the SHA-256 fingerprint of the peer's"
                    + " certificate, as doppel:site-id prints it on that site; options go before the name, e.g."
                    + " doppel:peer-add --fingerprint AB:CD:... " + (name == null ? "NAME" : name) + " host:10810");
        }
        PeerInfo p = transport.addPeer(name, address == null ? "" : address, fingerprint);
        if (json) {
            System.out.println(Json.write(PeerRow.of(p)));
        } else {
            System.out.println("Added peer " + p.name() + (p.address().isEmpty() ? " (it dials this site)"
                    : " at " + p.address()) + " with fingerprint " + p.fingerprint() + ": " + p.state()
                    + (p.detail().isEmpty() ? "" : " (" + p.detail() + ")"));
        }
        return null;
    }
}
