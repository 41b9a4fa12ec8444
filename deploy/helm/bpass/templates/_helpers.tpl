{{/* The registry the chart is generated from (files/registry.yaml, written by deploy/helm/registry.py). */}}
{{- define "bpass.registry" -}}
{{- .Files.Get "files/registry.yaml" -}}
{{- end -}}

{{- define "bpass.labels" -}}
app.kubernetes.io/part-of: bpass
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Replicas of every topic: 3 once there are 3 brokers, else as many as there are. */}}
{{- define "bpass.topicReplicas" -}}
{{- min 3 (int .Values.kafka.brokers) -}}
{{- end -}}

{{/* min.insync.replicas: one less than the replicas from 3 on (acks=all survives one broker down), else 1. */}}
{{- define "bpass.minInsync" -}}
{{- $r := int (include "bpass.topicReplicas" .) -}}
{{- if ge $r 3 }}{{ sub $r 1 }}{{ else }}1{{ end -}}
{{- end -}}

{{- define "bpass.bootstrap" -}}
{{ .Values.kafka.name }}-kafka-bootstrap:{{ .Values.kafka.port }}
{{- end -}}

{{/* The Kafka user (KafkaUser name, SCRAM principal and Secret) of a service. */}}
{{- define "bpass.serviceUser" -}}
bpass-{{ . }}
{{- end -}}

{{- define "bpass.partnerName" -}}
{{- if not (regexMatch "^[a-z0-9][a-z0-9-]{1,62}$" .) -}}
{{- fail (printf "kafka.partners: %q is not a valid tenant or handler id (a-z, 0-9, '-', 2..63 characters) [reason: invalid_partner]" .) -}}
{{- end -}}
{{- . -}}
{{- end -}}

{{/* Replicas a service may run at most: its autoscaling maximum, or its fixed replicas. */}}
{{- define "bpass.maxReplicas" -}}
{{- if .svc.autoscaling.enabled }}{{ int .svc.autoscaling.maxReplicas }}{{ else }}{{ int .svc.replicas }}{{ end -}}
{{- end -}}

{{/* Refuse values that break what the registry says: a service unknown to it, more consumers than partitions,
     fewer PostgreSQL connections than the services may open. */}}
{{- define "bpass.checks" -}}
{{- $reg := include "bpass.registry" . | fromYaml -}}
{{- range $name, $_ := .Values.services -}}
{{- if not (hasKey $reg.services $name) -}}
{{- fail (printf "services.%s: no such service in the registry (files/registry.yaml) [reason: unknown_service]" $name) -}}
{{- end -}}
{{- end -}}
{{- $connections := 10 -}}
{{- range $name, $entry := $reg.services -}}
{{- $svc := index $.Values.services $name | default dict -}}
{{- if not $svc.resources -}}
{{- fail (printf "services.%s: missing (replicas, resources, autoscaling) [reason: service_values_missing]" $name) -}}
{{- end -}}
{{- $max := int (include "bpass.maxReplicas" (dict "svc" $svc)) -}}
{{- if gt $max (int $entry.maxConsumers) -}}
{{- fail (printf "services.%s: %d replicas is above the %d partitions its consumer group %s can use (the most of any topic it subscribes to); the extra replicas would own no partition [reason: replicas_above_partitions]" $name $max (int $entry.maxConsumers) $entry.consumerGroup) -}}
{{- end -}}
{{- if and $svc.autoscaling.enabled (gt (int $svc.autoscaling.minReplicas) $max) -}}
{{- fail (printf "services.%s.autoscaling: minReplicas %d is above maxReplicas %d [reason: min_above_max]" $name (int $svc.autoscaling.minReplicas) $max) -}}
{{- end -}}
{{- $connections = add $connections (mul 22 $max) -}}
{{- end -}}
{{- if lt (int .Values.postgres.maxConnections) $connections -}}
{{- fail (printf "postgres.maxConnections %d is below the %d connections the services may open (22 per replica at most, + 10) [reason: max_connections_too_low]" (int .Values.postgres.maxConnections) $connections) -}}
{{- end -}}
{{- end -}}
