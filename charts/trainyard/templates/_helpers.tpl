{{/* Names and labels shared by every template. */}}
{{- define "trainyard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "trainyard.labels" -}}
app.kubernetes.io/name: trainyard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "trainyard.selector" -}}
app.kubernetes.io/name: trainyard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "trainyard.image" -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}

{{- define "trainyard.minioName" -}}
{{- printf "%s-minio" (include "trainyard.fullname" .) -}}
{{- end -}}

{{/* The Secret holding accessKey/secretKey of the object store. */}}
{{- define "trainyard.storeSecret" -}}
{{- if eq .Values.objectStore.mode "external" -}}
{{- required "objectStore.external.existingSecret is required in external mode" .Values.objectStore.external.existingSecret -}}
{{- else if .Values.objectStore.minio.existingSecret -}}
{{- .Values.objectStore.minio.existingSecret -}}
{{- else -}}
{{- printf "%s-store" (include "trainyard.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The object store endpoint as the operator and pods reach it. */}}
{{- define "trainyard.storeEndpoint" -}}
{{- if eq .Values.objectStore.mode "external" -}}
{{- required "objectStore.external.endpoint is required in external mode" .Values.objectStore.external.endpoint -}}
{{- else -}}
{{- printf "http://%s.%s.svc:9000" (include "trainyard.minioName" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* TRAINYARD_S3_* as the operator reads them (trainyard/storage/config.py). */}}
{{- define "trainyard.storeEnv" -}}
- name: TRAINYARD_S3_ENDPOINT
  value: {{ include "trainyard.storeEndpoint" . | quote }}
- name: TRAINYARD_S3_BUCKET
  value: {{ .Values.objectStore.bucket | quote }}
{{- if and (eq .Values.objectStore.mode "external") .Values.objectStore.external.region }}
- name: TRAINYARD_S3_REGION
  value: {{ .Values.objectStore.external.region | quote }}
{{- end }}
- name: TRAINYARD_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "trainyard.storeSecret" . }}, key: accessKey}
- name: TRAINYARD_S3_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "trainyard.storeSecret" . }}, key: secretKey}
{{- end -}}

{{/* An id for the object store the operator reads (trainyard/storage/identity.py): the same for
the same cluster, release namespace, endpoint and bucket, so it survives upgrades; the bucket init
container writes it into the bucket and store-info.yaml publishes it. */}}
{{- define "trainyard.storeId" -}}
{{- $kubeSystem := lookup "v1" "Namespace" "" "kube-system" -}}
{{- $cluster := "" -}}
{{- if $kubeSystem }}{{ $cluster = $kubeSystem.metadata.uid }}{{ end -}}
{{- printf "%s|%s|%s|%s" $cluster .Release.Namespace (include "trainyard.storeEndpoint" .) .Values.objectStore.bucket | sha256sum | trunc 16 -}}
{{- end -}}
