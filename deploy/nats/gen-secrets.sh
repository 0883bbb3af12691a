#!/bin/sh
# Makes the NATS passwords docker-compose.yml needs, once, in
# deploy/nats/secrets/ (ignored by git and docker): one file per identity
# for the services (mounted as compose secrets) and passwords.conf for
# nats-server (included by nats-server.conf). Existing files are kept.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
conf="$dir/passwords.conf"
for user in catalog api-gateway backup-watcher transfer-worker cleanup drill upstream operator; do
  file="$dir/$user.password"
  if [ ! -s "$file" ]; then
    # 32 random bytes, hex: no characters nats-server's parser treats specially.
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$file"
    echo >> "$file"
  fi
done
: > "$conf"
for user in catalog api-gateway backup-watcher transfer-worker cleanup drill upstream operator; do
  var="$(echo "$user" | tr 'a-z-' 'A-Z_')_PASSWORD"
  printf '%s: "%s"\n' "$var" "$(tr -d '\n' < "$dir/$user.password")" >> "$conf"
done
echo "NATS passwords in $dir"
