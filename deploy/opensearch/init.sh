#!/bin/sh
# One-shot set-up of the compose stack: waits for OpenSearch and its Dashboards, installs
# the slagboom index template (ECS field types) and a Dashboards index pattern.
set -eu
until curl -fsS http://opensearch:9200/_cluster/health >/dev/null; do sleep 2; done
curl -fsS -X PUT http://opensearch:9200/_index_template/slagboom \
  -H 'Content-Type: application/json' --data-binary @/init/template.json
until curl -fsS http://dashboards:5601/api/status >/dev/null; do sleep 2; done
curl -fsS -X POST 'http://dashboards:5601/api/saved_objects/index-pattern/logs-slagboom?overwrite=true' \
  -H 'osd-xsrf: true' -H 'Content-Type: application/json' \
  -d '{"attributes":{"title":"logs-slagboom-*","timeFieldName":"@timestamp"}}'
echo "slagboom events: http://localhost:5601 (index pattern logs-slagboom-*)"
