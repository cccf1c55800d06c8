#!/usr/bin/env bash
# The test environment: installs what is missing and starts, idempotently, on loopback only:
#   - a Docker engine (dockerd --iptables=false --bridge=none; containers need --network none|host)
#   - three registries (Debian's docker-registry, the CNCF distribution registry):
#       127.0.0.1:5000  anonymous, plain HTTP
#       127.0.0.1:5001  htpasswd basic auth over TLS, certificate from a test CA
#       127.0.0.1:5002  bearer-token auth; tokens come from an issuer the tests start on 127.0.0.1:5003
#   - promtool (Debian's prometheus) and openapi-spec-validator (PyPI), to check /metrics and
#     /api/openapi.json with tools drydock did not write; schemathesis (PyPI, pinned), to fuzz
#     the API from that document; aiosmtpd (PyPI), a real SMTP server;
#     mosquitto, a real MQTT broker (tests start their own on free loopback ports)
# Everything it makes lives under $DRYDOCK_TEST_ENV (default /tmp/drydock-test-env); tests read the
# CA, the token signing key and the credentials from there. Safe to run again: what runs stays.
set -euo pipefail

ENV_DIR=${DRYDOCK_TEST_ENV:-/tmp/drydock-test-env}
BASIC_USER=drydock
# A test-only secret for a loopback registry; tests also grep logs for it to prove it never leaks.
BASIC_PASSWORD=drydock-test-secret-4c1d
mkdir -p "$ENV_DIR"

log() { printf 'test-env: %s\n' "$*" >&2; }

install_missing() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    [ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
    command -v htpasswd >/dev/null || missing+=(apache2-utils)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    command -v promtool >/dev/null || missing+=(prometheus)
    command -v mosquitto >/dev/null || missing+=(mosquitto)
    command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
    command -v pgrep >/dev/null || missing+=(procps)
    command -v python3 >/dev/null || missing+=(python3)
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    # Debian packages aiosmtpd; the OpenAPI validator comes from PyPI below.
    python3 -c "import aiosmtpd" 2>/dev/null || missing+=(python3-aiosmtpd)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            log "not root: install ${missing[*]} with apt-get first"
            exit 1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # schemathesis fuzzes the API from its own OpenAPI document
    # (apps/drydock/tests/e2e/schemathesis.rs). Pinned: its checks and its summary change between
    # releases, and a new check must not fail a run nobody changed.
    local schemathesis=4.32.5
    if [ "$(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null)" != "$schemathesis" ]; then
        log "installing schemathesis $schemathesis"
        python3 -m pip install -q "schemathesis==$schemathesis" >/dev/null 2>&1 ||
            python3 -m pip install -q --break-system-packages "schemathesis==$schemathesis" >/dev/null
    fi
    # An independent OpenAPI validator, and a real SMTP server for the mail channel.
    for module in openapi_spec_validator:openapi-spec-validator aiosmtpd:aiosmtpd; do
        if ! python3 -c "import ${module%%:*}" 2>/dev/null; then
            log "installing ${module#*:}"
            # Debian marks its Python externally managed (PEP 668); these test tools go to the
            # system site anyway, as nothing else on a CI machine depends on it.
            python3 -m pip install -q "${module#*:}" >/dev/null 2>&1 ||
                python3 -m pip install -q --break-system-packages "${module#*:}" >/dev/null
        fi
    done
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local what=$1 tries=$2
    shift 2
    for _ in $(seq "$tries"); do
        if "$@"; then return 0; fi
        sleep 0.5
    done
    log "$what did not come up"
    return 1
}

start_docker() {
    if docker info >/dev/null 2>&1; then return; fi
    # A dockerd that is still starting or stopping: let it finish before deciding.
    for _ in $(seq 60); do
        pgrep -x dockerd >/dev/null || break
        if docker info >/dev/null 2>&1; then return; fi
        sleep 0.5
    done
    if pgrep -x dockerd >/dev/null; then
        log "a dockerd runs but does not answer; stopping it"
        pkill -TERM -x dockerd || true
        for _ in $(seq 60); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
    fi
    # No dockerd runs, so a pid file left by one that was killed is stale.
    rm -f /var/run/docker.pid
    log "starting dockerd"
    nohup dockerd --iptables=false --bridge=none --host unix:///var/run/docker.sock \
        >"$ENV_DIR/dockerd.log" 2>&1 &
    wait_for dockerd 120 docker info >/dev/null 2>&1 || {
        tail -20 "$ENV_DIR/dockerd.log" >&2
        exit 1
    }
}

make_certificates() {
    local tls=$ENV_DIR/tls
    mkdir -p "$tls"
    if [ ! -f "$tls/server.crt" ]; then
        log "making the test CA and registry certificate"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=drydock test CA" \
            -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$tls/ext.cnf"
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
            -CAcreateserial -days 3650 -extfile "$tls/ext.cnf" -out "$tls/server.crt" 2>/dev/null
    fi
    local token=$ENV_DIR/token
    mkdir -p "$token"
    if [ ! -f "$token/signing.crt" ]; then
        log "making the token signing key"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=drydock test token issuer" \
            -keyout "$token/signing.key" -out "$token/signing.crt" 2>/dev/null
    fi
    if [ ! -f "$ENV_DIR/htpasswd" ]; then
        htpasswd -Bbc "$ENV_DIR/htpasswd" "$BASIC_USER" "$BASIC_PASSWORD" 2>/dev/null
    fi
    printf '%s\n' "$BASIC_USER" >"$ENV_DIR/basic.user"
    printf '%s\n' "$BASIC_PASSWORD" >"$ENV_DIR/basic.password"
}

# start_registry PORT NAME EXTRA_YAML
start_registry() {
    local port=$1 name=$2 extra=$3
    local dir=$ENV_DIR/registry-$name
    mkdir -p "$dir/data"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
$extra
EOF
    if listening "$port"; then return; fi
    log "starting registry $name on 127.0.0.1:$port"
    nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    wait_for "registry $name" 60 listening "$port" || {
        tail -20 "$dir/registry.log" >&2
        exit 1
    }
}

install_missing
make_certificates
start_docker
start_registry 5000 anonymous ""
start_registry 5001 basic "  tls:
    certificate: $ENV_DIR/tls/server.crt
    key: $ENV_DIR/tls/server.key
auth:
  htpasswd:
    realm: drydock-basic
    path: $ENV_DIR/htpasswd"
start_registry 5002 token "auth:
  token:
    realm: http://127.0.0.1:5003/token
    service: drydock-registry
    issuer: drydock-test-issuer
    rootcertbundle: $ENV_DIR/token/signing.crt"
log "ready: docker, registries on 5000 (anonymous), 5001 (basic, TLS), 5002 (token)"
