package io.doppel.itests.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The key pair the harness logs into Karaf's console with.
 * <p>
 * RSA: Karaf 4.4.10's public-key login ({@code etc/keys.properties}) refuses ed25519 keys
 * (checked: "Permission denied (publickey)").
 *
 * @param privateKey    the private key file (mode 0600, as ssh requires)
 * @param publicKeyBlob the base64 blob of the public key, the form {@code etc/keys.properties} wants
 */
public record SshKey(Path privateKey, String publicKeyBlob) {

    private static final String FILE_NAME = "id_rsa";

    /** Generates a fresh RSA key pair in {@code directory} (replacing one already there). */
    public static SshKey generate(Path directory) {
        Path key = directory.resolve(FILE_NAME);
        Path publicKey = directory.resolve(FILE_NAME + ".pub");
        try {
            Files.createDirectories(directory);
            Files.deleteIfExists(key);
            Files.deleteIfExists(publicKey);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot prepare " + directory + " for an SSH key", e);
        }
        Processes.run(Duration.ofSeconds(60), "ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "",
                "-C", "doppel-itests", "-f", key.toString()).requireSuccess();
        return new SshKey(key, parsePublicKey(Processes.read(publicKey)));
    }

    /** The blob of an OpenSSH public key line ({@code ssh-rsa AAAA... comment}). */
    static String parsePublicKey(String line) {
        String[] fields = line.trim().split("\\s+");
        if (fields.length < 2 || !fields[0].startsWith("ssh-")) {
            throw new IllegalArgumentException("Not an OpenSSH public key line: '" + line.trim() + "'");
        }
        return fields[1];
    }

    /** The {@code etc/keys.properties} entry giving {@code user} this key and the admin group. */
    public String keysPropertiesEntry(String user) {
        return user + "=" + publicKeyBlob + ",_g_:admingroup";
    }
}
