#!/usr/bin/env bash
# One-shot set-up of the compose Kafka, as the admin: a SCRAM-SHA-512 credential per user in KAFKA_SCRAM_USERS
# ("user=password" words), then the ACLs of /acls/kafka-acls.txt (written by deploy/compose/kafka_acls.py from the
# topic registry, one `kafka-acls.sh --add` argument list per line). Idempotent: credentials and ACLs are upserts.
set -euo pipefail
: "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}" "${KAFKA_SCRAM_USERS:?set KAFKA_SCRAM_USERS}"
BOOTSTRAP=${KAFKA_BOOTSTRAP:-kafka:9092}
ACLS=${KAFKA_ACLS_FILE:-/acls/kafka-acls.txt}
ADMIN=/tmp/admin.properties
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx128m}
cat >"$ADMIN" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPERTIES
for entry in $KAFKA_SCRAM_USERS; do
  user=${entry%%=*} password=${entry#*=}
  echo "==> SCRAM-SHA-512 credential of ${user}"
  /opt/kafka/bin/kafka-configs.sh --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --alter \
    --entity-type users --entity-name "$user" --add-config "SCRAM-SHA-512=[iterations=8192,password=${password}]"
done
while read -r line; do
  [[ -z $line ]] && continue
  echo "==> ACL ${line}"
  # shellcheck disable=SC2086 # the line is a list of arguments
  /opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --add --force $line
done <"$ACLS"
echo "==> $(grep -c . "$ACLS") ACL lines applied"
