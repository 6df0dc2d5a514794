#!/usr/bin/env bash
# Vendors the Swagger UI and ReDoc bundles into the package so /docs and /redoc work offline.
# Re-run with other versions to upgrade: scripts/vendor-docs-assets.sh 5.35.0 2.5.4
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER_UI_VERSION="${1:-5.35.0}"
REDOC_VERSION="${2:-2.5.4}"
STATIC=src/mlregistry/static
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@${SWAGGER_UI_VERSION}" "redoc@${REDOC_VERSION}" >/dev/null)
mkdir -p "$work/swagger" "$work/redoc" "$STATIC/swagger-ui" "$STATIC/redoc"
tar xzf "$work/swagger-ui-dist-${SWAGGER_UI_VERSION}.tgz" -C "$work/swagger"
tar xzf "$work/redoc-${REDOC_VERSION}.tgz" -C "$work/redoc"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "$work/swagger/package/$file" "$STATIC/swagger-ui/$file"
done
# Drop the source-map reference: the map is not shipped.
sed -i '/^\/\/# sourceMappingURL=/d' "$STATIC/swagger-ui/swagger-ui-bundle.js"
cp "$work/redoc/package/bundles/redoc.standalone.js" "$work/redoc/package/bundles/redoc.standalone.js.LICENSE.txt" \
  "$work/redoc/package/LICENSE" "$STATIC/redoc/"
sed -i '/^\/\/# sourceMappingURL=/d' "$STATIC/redoc/redoc.standalone.js"
# Its footer logo is the one thing ReDoc fetches from a CDN: an empty inline image instead, so nothing leaves.
sed -i 's|https://cdn.redoc.ly/redoc/logo-mini.svg|data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E|' \
  "$STATIC/redoc/redoc.standalone.js"
printf 'swagger-ui-dist %s\nredoc %s\n' "$SWAGGER_UI_VERSION" "$REDOC_VERSION" > "$STATIC/VERSIONS"
echo "Vendored swagger-ui-dist ${SWAGGER_UI_VERSION} and redoc ${REDOC_VERSION} into ${STATIC}"
