#!/bin/sh
# helm test: signs a user up through Keycloak's admin API (an admin CREATE of a verified user, which the
# event listener sends to idp-hook), then waits until user-service has activated it: user-service writes
# the user's tenant into the Keycloak attribute `tenant`, and its admin API knows that tenant.
set -eu
kc=$KEYCLOAK_URL
tmp=$(mktemp -d)
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2" | head -n1; }

# Admin tokens live a minute: fetch a new one before each use.
admin_token() {
  curl -fsS -o "$tmp/token" --data-urlencode grant_type=password --data-urlencode client_id=admin-cli \
    --data-urlencode "username=$KC_ADMIN_USER" --data-urlencode "password=$KC_ADMIN_PASSWORD" \
    "$kc/realms/master/protocol/openid-connect/token"
  token=$(field access_token "$tmp/token")
  [ -n "$token" ] || { echo "no admin token from Keycloak"; exit 1; }
}
admin_token

email="helm-test-$(date +%s)-$$@example.com"
echo "creating $email in realm $REALM"
curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"username\":\"$email\",\"email\":\"$email\",\"firstName\":\"Helm\",\"lastName\":\"Test\",\"enabled\":true,\"emailVerified\":true}" \
  "$kc/admin/realms/$REALM/users"
curl -fsS -o "$tmp/users" -H "Authorization: Bearer $token" "$kc/admin/realms/$REALM/users?email=$email&exact=true"
id=$(field id "$tmp/users")
[ -n "$id" ] || { echo "user not found in Keycloak"; exit 1; }
cleanup() { admin_token; curl -fsS -X DELETE -H "Authorization: Bearer $token" "$kc/admin/realms/$REALM/users/$id" || true; }
trap cleanup EXIT

deadline=$(( $(date +%s) + ${TIMEOUT_SECONDS:-180} ))
tenant=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  admin_token
  curl -fsS -o "$tmp/user" -H "Authorization: Bearer $token" "$kc/admin/realms/$REALM/users/$id"
  tenant=$(sed -n 's/.*"tenant":\["\([^"]*\)".*/\1/p' "$tmp/user")
  [ -n "$tenant" ] && break
  sleep 2
done
[ -n "$tenant" ] || { echo "user-service did not activate $email within ${TIMEOUT_SECONDS:-180}s"; exit 1; }
echo "user $id is in tenant $tenant"
code=$(curl -sS -o "$tmp/tenant" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" \
  "$USER_SERVICE_ADMIN_URL/admin/v1/tenants/$tenant")
[ "$code" = 200 ] || { echo "user-service admin API answered $code for tenant $tenant"; cat "$tmp/tenant"; exit 1; }
echo "ok: $email signed up, stored by user-service in tenant $tenant"
