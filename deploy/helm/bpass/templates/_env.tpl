{{/* The BPASS_* settings of a service process (services/common/settings.py), secrets from Secret objects. */}}
{{- define "bpass.serviceEnv" -}}
{{- $v := .root.Values -}}
- name: BPASS_HTTP_HOST
  value: "0.0.0.0"
- name: BPASS_KAFKA_BOOTSTRAP
  value: {{ include "bpass.bootstrap" .root | quote }}
- name: BPASS_KAFKA_SECURITY_PROTOCOL
  value: SASL_PLAINTEXT
- name: BPASS_KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: BPASS_KAFKA_SASL_USERNAME
  value: {{ .user | quote }}
- name: BPASS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .user | quote }}, key: password}
- name: BPASS_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ printf "%s-app" $v.postgres.name | quote }}, key: uri}
- name: BPASS_APP_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $v.secrets.appRole | quote }}, key: password}
- name: BPASS_PLATFORM_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $v.secrets.platformRole | quote }}, key: password}
- name: BPASS_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ $v.secrets.redis | quote }}, key: url}
- name: BPASS_API_KEYS_FILE
  value: /keys/api-keys.json
- name: BPASS_SECRETS_DIR
  value: /app/var/secrets
- name: BPASS_PUBLIC_BASE_URL
  value: {{ $v.publicBaseUrl | quote }}
- name: BPASS_GATEWAY_ADDRESSES
  value: {{ $v.gatewayAddresses | quote }}
{{- with $v.otelEndpoint }}
- name: BPASS_OTEL_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: BPASS_OTEL_SAMPLE_RATIO
  value: {{ $v.otelSampleRatio | quote }}
{{- if eq .name "reporting" }}
- name: BPASS_REPORTING_SIGNING_KEY_FILE
  value: /signing/reporting-signing-key.pem
{{- end }}
{{- end -}}
