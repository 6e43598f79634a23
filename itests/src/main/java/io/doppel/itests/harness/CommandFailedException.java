package io.doppel.itests.harness;

/** A Karaf console command ended with a non-zero exit status; the result holds its output. */
public class CommandFailedException extends HarnessException {

    private static final long serialVersionUID = 1L;

    private final transient ShellResult result;

    public CommandFailedException(ShellResult result) {
        super(result.describe());
        this.result = result;
    }

    public ShellResult result() {
        return result;
    }
}
