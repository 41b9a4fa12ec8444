// SCRAM users and ACLs of the local broker, through Kafka's own Admin client (aiokafka has neither API). Run by
// `bpass kafka-user` (bpass/kafka_users.py), which compiles it once against the broker's jars:
//
//   java -cp '<libs>/*:<classes>' KafkaAdmin <bootstrap>      commands on standard input, one per line
//
// The admin's credentials come from BPASS_KAFKA_SASL_USERNAME / BPASS_KAFKA_SASL_PASSWORD (the environment, never
// the command line); so do the passwords of the users it creates (standard input). Commands:
//
//   scram-upsert <user> <password>                                   SCRAM-SHA-512 credential, 8192 iterations
//   scram-delete <user>
//   acl <ALLOW|DENY> <user> <operation> <TOPIC|GROUP> <LITERAL|PREFIXED> <name>
//   acl-delete-user <user>                                           every ACL binding of User:<user>
//
// Each command is applied before the next is read; the first failure ends the run with exit status 1.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialDeletion;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public final class KafkaAdmin {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: KafkaAdmin <bootstrap> (commands on standard input)");
            System.exit(2);
        }
        String user = System.getenv("BPASS_KAFKA_SASL_USERNAME");
        String password = System.getenv("BPASS_KAFKA_SASL_PASSWORD");
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        if (user != null && !user.isEmpty()) {
            String mechanism = System.getenv().getOrDefault("BPASS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512");
            props.put("security.protocol", System.getenv().getOrDefault("BPASS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"));
            props.put("sasl.mechanism", mechanism);
            String module = mechanism.equals("PLAIN")
                    ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                    : "org.apache.kafka.common.security.scram.ScramLoginModule";
            props.put("sasl.jaas.config", module + " required username=\"" + user + "\" password=\"" + password + "\";");
        }
        try (Admin admin = Admin.create(props);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            int done = 0;
            while ((line = in.readLine()) != null) {
                line = line.strip();
                if (line.isEmpty()) {
                    continue;
                }
                String[] w = line.split("\\s+");
                switch (w[0]) {
                    case "scram-upsert" -> admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                            w[1], new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), w[2])))
                            .all().get(30, TimeUnit.SECONDS);
                    case "scram-delete" -> admin.alterUserScramCredentials(List.of(
                            new UserScramCredentialDeletion(w[1], ScramMechanism.SCRAM_SHA_512)))
                            .all().get(30, TimeUnit.SECONDS);
                    case "acl" -> admin.createAcls(List.of(new AclBinding(
                            new ResourcePattern(ResourceType.valueOf(w[4]), w[6], PatternType.valueOf(w[5])),
                            new AccessControlEntry("User:" + w[2], "*", AclOperation.valueOf(w[3].toUpperCase()),
                                    AclPermissionType.valueOf(w[1])))))
                            .all().get(30, TimeUnit.SECONDS);
                    case "acl-delete-user" -> admin.deleteAcls(List.of(new AclBindingFilter(
                            ResourcePatternFilter.ANY,
                            new AccessControlEntryFilter("User:" + w[1], null, AclOperation.ANY, AclPermissionType.ANY))))
                            .all().get(30, TimeUnit.SECONDS);
                    default -> throw new IllegalArgumentException("unknown command: " + w[0]);
                }
                done++;
            }
            System.out.println(done + " commands applied");
        } catch (Exception e) {
            System.err.println("KafkaAdmin: " + e);
            System.exit(1);
        }
    }
}
