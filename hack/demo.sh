#!/usr/bin/env bash
# hack/demo.sh: the operator end to end on this machine, the way `make demo` runs it.
#
#   1. builds bin/cluster, bin/localytics-sim and bin/manager (cached builds are quick);
#   2. starts a local control plane (etcd + kube-apiserver with the CRDs), the Localytics
#      simulator with fast jobs, an S3-compatible object store (versitygw) holding two
#      files (a profile import and an audience list), and the operator with a short drift
#      interval, all real processes on loopback;
#   3. applies the samples through the config/demo overlay (credentials and endpoints of the
#      simulator and the store), waits for every ProfileImport and AudienceList to be Ready,
#      and prints what Kubernetes and the simulator now hold, next to what the sample files
#      should produce;
#   4. stops everything it started, or with DEMO_KEEP=1 keeps it running until Ctrl-C and
#      prints what to try (replace, rename, delete a list outside the cluster, delete it).
#
# Environment (all optional):
#   DEMO_KEEP=1          keep everything running after the demo; Ctrl-C stops it
#   DEMO_DIR=bin/demo    logs, kubeconfig and the simulator's state end up here
#   DEMO_BIN=bin         where the three binaries are built
#   DEMO_BUILD=0         use the binaries already in DEMO_BIN instead of building them
#   DEMO_TIMEOUT=180s    how long to wait for the ProfileImports, then for the AudienceLists
#   DEMO_DRIFT_INTERVAL=5s  the operator's --drift-interval: how soon a list deleted or
#                        renamed outside the cluster (in the simulator) is repaired
#   DEMO_MANAGER_ARGS    more flags for the operator, e.g. --zap-log-level=debug
#   KUBEBUILDER_ASSETS   etcd, kube-apiserver and kubectl (default bin/k8s/1.37.2;
#                        `make control-plane` builds them)
#   VERSITYGW            the object store (default bin/versitygw/1.8.0/versitygw;
#                        `make object-store` builds it)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DEMO_DIR=$(mkdir -p "${DEMO_DIR:-bin/demo}" && cd "${DEMO_DIR:-bin/demo}" && pwd)
DEMO_BIN=$(mkdir -p "${DEMO_BIN:-bin}" && cd "${DEMO_BIN:-bin}" && pwd)
DEMO_TIMEOUT=${DEMO_TIMEOUT:-180s}
DEMO_DRIFT_INTERVAL=${DEMO_DRIFT_INTERVAL:-5s}
ASSETS=${KUBEBUILDER_ASSETS:-$ROOT/bin/k8s/${KUBE_VERSION:-1.37.2}}
KUBECONFIG_FILE=$DEMO_DIR/kubeconfig
KUBECTL=$ASSETS/kubectl
VERSITYGW=${VERSITYGW:-$ROOT/bin/versitygw/${VERSITYGW_VERSION:-1.8.0}/versitygw}
# The sample apps: APP_ID of imports_v1alpha1_profileimport_csv.yaml and
# imports_v1alpha1_audiencelist.yaml, CRM_APP_ID of the two *_objectstore.yaml samples.
APP_ID=329713ff0a13384015c3158-62b52efa-3912-11e8-7723-007c928ca240
CRM_APP_ID=5f3c2b1a09e8d7c6b5a4938-0a1b2c3d-4e5f-11e8-a6b7-00c8d9e0f1a2
# The store's root account, and where the samples' objects are.
STORE_KEY=demo-store STORE_SECRET=demo-store-secret
CRM_BUCKET=crm-exports CRM_OBJECT=2026/11/profiles.json CHURN_OBJECT=2026/11/churn-risk.txt

# The control plane is started through envtest, whose default start timeout (20s) is
# too short for a busy machine; these variables raise it without changing hack/cluster.
export KUBEBUILDER_CONTROLPLANE_START_TIMEOUT=${KUBEBUILDER_CONTROLPLANE_START_TIMEOUT:-2m}
export KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT=${KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT:-1m}

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

for f in etcd kube-apiserver kubectl; do
  [[ -x $ASSETS/$f ]] || die "no $ASSETS/$f: run 'make control-plane' (or set KUBEBUILDER_ASSETS)"
done
[[ -x $VERSITYGW ]] || die "no $VERSITYGW: run 'make object-store' (or set VERSITYGW)"
command -v curl >/dev/null || die "curl is needed to fill the object store and read the simulator's state"

kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# ---------------------------------------------------------------------------------------
# Processes. Each one runs in a session of its own (setsid), for two reasons: Ctrl-C in
# the terminal reaches only this script, which then stops them in order (operator,
# simulator, control plane) instead of all at once; and if one ignores SIGTERM, killing
# its session also ends its children (bin/cluster runs etcd and kube-apiserver, each in
# a process group of its own but still in bin/cluster's session).
# ---------------------------------------------------------------------------------------
declare -a PIDS=() NAMES=()

start() { # start NAME LOGFILE COMMAND...: runs COMMAND in the background, output to LOGFILE
  local name=$1 log=$2; shift 2
  if command -v setsid >/dev/null; then
    setsid "$@" >"$log" 2>&1 </dev/null &
  else
    "$@" >"$log" 2>&1 </dev/null &
  fi
  PIDS+=("$!"); NAMES+=("$name")
  # For whoever runs this script and must clean up even if it is killed (test/e2e).
  echo "$!" >>"$DEMO_DIR/pids"
}

kill_session() { # kill_session SID: SIGKILL whatever is left in a session we created
  kill -KILL -- "-$1" 2>/dev/null || true
  if command -v pkill >/dev/null; then pkill -KILL -s "$1" 2>/dev/null || true; fi
}

stop_one() { # stop_one PID NAME: SIGTERM, wait up to 30s, then SIGKILL its session
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "demo: $name did not stop within 30s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  # Anything left in its session (etcd or kube-apiserver of a crashed bin/cluster).
  kill_session "$pid"
}

CLEANED=0
cleanup() {
  local rc=$?
  ((CLEANED)) && return 0
  CLEANED=1
  trap - INT TERM
  if ((${#PIDS[@]})); then
    say "stopping the operator, the object store, the simulator and the control plane"
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do # the reverse of the start order
      stop_one "${PIDS[i]}" "${NAMES[i]}"
    done
    echo "stopped; logs are in ${DEMO_DIR#"$ROOT"/}/"
  fi
  [[ -n ${OVERLAY:-} ]] && rm -rf "$OVERLAY"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

alive() { kill -0 "$1" 2>/dev/null; }

wait_for_line() { # wait_for_line PID FILE REGEX SECONDS WHAT
  local pid=$1 file=$2 re=$3 secs=$4 what=$5 i
  for ((i = 0; i < secs * 10; i++)); do
    grep -Eq "$re" "$file" 2>/dev/null && return 0
    alive "$pid" || { tail -n 30 "$file" >&2; die "$what exited before it was ready (log: $file)"; }
    sleep 0.1
  done
  tail -n 30 "$file" >&2
  die "$what was not ready after ${secs}s (log: $file)"
}

free_port() { # a loopback port nobody listens on (bash's /dev/tcp: a refused connect)
  local p i
  for ((i = 0; i < 100; i++)); do
    # Below Linux's ephemeral range (32768 and up), where a port nobody listens on may
    # still be the local end of some connection and so cannot be bound.
    p=$((15000 + RANDOM % 17000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  die "no free loopback port found"
}

# ---------------------------------------------------------------------------------------
if [[ ${DEMO_BUILD:-1} != 0 ]]; then
  say "building cluster, localytics-sim and manager into ${DEMO_BIN#"$ROOT"/}/"
  go build -o "$DEMO_BIN/cluster" ./hack/cluster
  go build -o "$DEMO_BIN/localytics-sim" ./cmd/localytics-sim
  go build -o "$DEMO_BIN/manager" .
fi
for f in cluster localytics-sim manager; do
  [[ -x $DEMO_BIN/$f ]] || die "no $DEMO_BIN/$f (DEMO_BUILD=0 needs them built)"
done
rm -f "$DEMO_DIR"/*.log "$DEMO_DIR"/sim-*.json "$DEMO_DIR"/sim-*.json.compared "$DEMO_DIR/pids" "$KUBECONFIG_FILE"

# ---------------------------------------------------------------------------------------
say "starting the control plane (etcd + kube-apiserver, CRDs from config/crd/bases)"
start "control plane" "$DEMO_DIR/cluster.log" \
  "$DEMO_BIN/cluster" --crds config/crd/bases --kubeconfig "$KUBECONFIG_FILE" --assets "$ASSETS"
wait_for_line "${PIDS[-1]}" "$DEMO_DIR/cluster.log" '^control plane ready: ' 180 "the control plane"
grep '^control plane ready: ' "$DEMO_DIR/cluster.log"

# Port 0: the simulator picks a free port and prints it. Jobs finish in seconds.
say "starting the Localytics simulator (account demo:demo-secret, org 60, any app)"
start "simulator" "$DEMO_DIR/sim.log" \
  "$DEMO_BIN/localytics-sim" --addr 127.0.0.1:0 --pending 1s --running 2s
wait_for_line "${PIDS[-1]}" "$DEMO_DIR/sim.log" 'listening on http://' 30 "the simulator"
SIM_URL=$(sed -n 's/^localytics-sim listening on //p' "$DEMO_DIR/sim.log" | head -n 1)
echo "simulator: $SIM_URL"

# The store keeps its buckets as directories under $DEMO_DIR/store. curl signs its
# requests with the store's root account (SigV4), as any S3 client would.
say "starting the object store (versitygw, bucket $CRM_BUCKET with the samples' files)"
rm -rf "$DEMO_DIR/store" && mkdir -p "$DEMO_DIR/store"
for ((attempt = 1; ; attempt++)); do
  STORE_URL=http://127.0.0.1:$(free_port)
  start "object store" "$DEMO_DIR/store.log" \
    env ROOT_ACCESS_KEY_ID=$STORE_KEY ROOT_SECRET_ACCESS_KEY=$STORE_SECRET \
    "$VERSITYGW" --port "${STORE_URL#http://}" --quiet posix "$DEMO_DIR/store"
  for ((i = 0; i < 300; i++)); do # an unsigned request gets 403 once it listens
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$STORE_URL/" || true) == 403 ]] && break 2
    alive "${PIDS[-1]}" || break
    sleep 0.1
  done
  stop_one "${PIDS[-1]}" "object store"
  unset 'PIDS[-1]' 'NAMES[-1]'
  ((attempt < 3)) || { tail -n 30 "$DEMO_DIR/store.log" >&2; die "the object store did not start (log: $DEMO_DIR/store.log)"; }
done
s3() { # s3 CURL_ARGS...: a request signed as the store's root account
  curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$STORE_KEY:$STORE_SECRET" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
s3 -X PUT "$STORE_URL/$CRM_BUCKET" >/dev/null
s3 -T config/demo/crm-profiles.json "$STORE_URL/$CRM_BUCKET/$CRM_OBJECT" >/dev/null
s3 -T config/demo/churn-risk.txt "$STORE_URL/$CRM_BUCKET/$CHURN_OBJECT" >/dev/null
echo "object store: $STORE_URL, s3://$CRM_BUCKET/$CRM_OBJECT (config/demo/crm-profiles.json)"
echo "              and s3://$CRM_BUCKET/$CHURN_OBJECT (config/demo/churn-risk.txt)"

# Metrics stay off (their default); the probes get a free port so that two demos, or a
# demo and a test, can run side by side. The drift interval is short (the default is 10m)
# so that a list deleted or renamed in the simulator is repaired while you watch.
say "starting the operator (bin/manager --drift-interval $DEMO_DRIFT_INTERVAL --allowed-endpoints $SIM_URL --allowed-object-store-endpoints $STORE_URL, log ${DEMO_DIR#"$ROOT"/}/manager.log)"
# The port was free a moment ago; should something take it meanwhile, try another.
for ((attempt = 1; ; attempt++)); do
  PROBE_PORT=$(free_port)
  # shellcheck disable=SC2086 # DEMO_MANAGER_ARGS is split into flags on purpose
  start "operator" "$DEMO_DIR/manager.log" \
    "$DEMO_BIN/manager" --kubeconfig "$KUBECONFIG_FILE" \
    --health-probe-bind-address "127.0.0.1:$PROBE_PORT" --metrics-bind-address 0 \
    --drift-interval "$DEMO_DRIFT_INTERVAL" --allowed-endpoints "$SIM_URL" \
    --allowed-object-store-endpoints "$STORE_URL" ${DEMO_MANAGER_ARGS:-}
  MANAGER_PID=${PIDS[-1]}
  for ((i = 0; ; i++)); do
    curl -fsS "http://127.0.0.1:$PROBE_PORT/readyz" >/dev/null 2>&1 && break 2
    alive "$MANAGER_PID" || break
    ((i < 600)) || { tail -n 30 "$DEMO_DIR/manager.log" >&2; die "the operator was not ready after 60s"; }
    sleep 0.1
  done
  wait "$MANAGER_PID" 2>/dev/null || true
  unset 'PIDS[-1]' 'NAMES[-1]'
  if ((attempt < 3)) && grep -q 'address already in use' "$DEMO_DIR/manager.log"; then
    echo "probe port $PROBE_PORT was taken; trying another"
    continue
  fi
  tail -n 30 "$DEMO_DIR/manager.log" >&2
  die "the operator exited (log: $DEMO_DIR/manager.log)"
done
echo "operator ready (probes on 127.0.0.1:$PROBE_PORT, metrics off)"

# ---------------------------------------------------------------------------------------
# config/demo points the account at the simulator's default address and the object-store
# import and list at versitygw's; both run on ports chosen just now, so one more overlay,
# generated here, patches the endpoints.
# kustomize takes only relative paths to a base, so the overlay lives two levels below
# the repository (in bin/, which git ignores) whatever DEMO_DIR is.
mkdir -p "$ROOT/bin"
OVERLAY=$(mktemp -d "$ROOT/bin/demo-overlay.XXXXXX")
cat >"$OVERLAY/kustomization.yaml" <<EOF
# Generated by hack/demo.sh: config/demo with the endpoints of this run's simulator and store.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../config/demo
patches:
- target:
    kind: LocalyticsAccount
    name: acme
  patch: |-
    - op: replace
      path: /spec/endpoint
      value: $SIM_URL
- target:
    kind: ProfileImport
    name: crm-export-2026-11
  patch: |-
    - op: replace
      path: /spec/source/objectStore/url
      value: s3://$CRM_BUCKET/$CRM_OBJECT?endpoint=$STORE_URL
- target:
    kind: AudienceList
    name: churn-risk-2026-11
  patch: |-
    - op: replace
      path: /spec/source/objectStore/url
      value: s3://$CRM_BUCKET/$CHURN_OBJECT?endpoint=$STORE_URL
EOF
say "applying the samples: kubectl kustomize config/demo (simulator $SIM_URL, store $STORE_URL) | kubectl apply -f -"
# kustomize refuses files outside an overlay's directory unless told otherwise, and
# config/demo reuses the files in config/samples rather than copying them.
"$KUBECTL" kustomize --load-restrictor=LoadRestrictionsNone "$OVERLAY" | kubectl apply -f -

show_failure() {
  echo >&2
  kubectl get localytics -o wide >&2 || true
  kubectl describe profileimports >&2 || true
  kubectl describe audiencelists >&2 || true
  echo "--- last lines of the operator's log (${DEMO_DIR}/manager.log) ---" >&2
  tail -n 40 "$DEMO_DIR/manager.log" >&2 || true
  echo "--- last lines of the simulator's log (${DEMO_DIR}/sim.log) ---" >&2
  tail -n 15 "$DEMO_DIR/sim.log" >&2 || true
}

say "waiting for the ProfileImports (kubectl wait --for=condition=Ready profileimport --all --timeout=$DEMO_TIMEOUT)"
start_wait=$SECONDS
if ! kubectl wait --for=condition=Ready profileimport --all --timeout="$DEMO_TIMEOUT"; then
  show_failure
  die "the ProfileImports were not Ready within $DEMO_TIMEOUT"
fi
echo "Ready after $((SECONDS - start_wait))s"

say "waiting for the AudienceLists (kubectl wait --for=condition=Ready audiencelist --all --timeout=$DEMO_TIMEOUT)"
start_wait=$SECONDS
if ! kubectl wait --for=condition=Ready audiencelist --all --timeout="$DEMO_TIMEOUT"; then
  show_failure
  die "the AudienceLists were not Ready within $DEMO_TIMEOUT"
fi
echo "Ready after $((SECONDS - start_wait))s"

say "kubectl get localytics"
kubectl get localytics
say "kubectl get pi -o wide"
kubectl get pi -o wide
say "kubectl get al -o wide"
kubectl get al -o wide

# ---------------------------------------------------------------------------------------
# The simulator applies every change it receives, so its profile state shows what the
# imports really did. config/demo/expected/ holds what the sample files should produce,
# in the simulator's own format (sorted keys), so diff compares them byte for byte.
compare() { # compare TITLE QUERY EXPECTED SAVED
  local title=$1 query=$2 expected=$3 saved=$4
  curl -fsS "$SIM_URL/_sim/profiles?$query" >"$saved"
  say "$title"
  printf '%-40s%s\n' "expected: ${expected##*/}" "simulator: GET /_sim/profiles"
  if diff -y -W 80 "$expected" "$saved" | expand; then
    echo "OK: the simulator holds exactly the sample file's changes"
  else
    show_failure
    die "the simulator's profiles ($saved) differ from $expected"
  fi
}
compare "org 60: loyalty-tiers-2026-11 (JSON: assign, set-add, set-remove, delete, increment)" \
  "org_id=60" config/demo/expected/org-60.json "$DEMO_DIR/sim-org-60.json"
compare "app scope: home-stores-2026-11 (CSV: 123's empty newsletter cell clears it)" \
  "app_id=$APP_ID" config/demo/expected/app.json "$DEMO_DIR/sim-app.json"
compare "another app: crm-export-2026-11 (JSON from s3://$CRM_BUCKET/$CRM_OBJECT in versitygw)" \
  "app_id=$CRM_APP_ID" config/demo/expected/app-crm.json "$DEMO_DIR/sim-app-crm.json"

# ---------------------------------------------------------------------------------------
# The simulator's lists, beside the AudienceLists: /_sim/audiences?app_id= answers in the
# simulator's own format (two-space indent, one field a line, members sorted), which awk
# reads into a table. The comparison drops the lines that differ from run to run (ids and
# times; app_id is the query's); config/demo/expected/ holds the rest.
sim_lists() { # sim_lists FILE: the lists in a /_sim/audiences answer, one a line
  awk '
    function val(line) { sub(/^ *"[a-z_]+": /, "", line); sub(/,$/, "", line); gsub(/^"|"$/, "", line); return line }
    BEGIN                     { printf "%-7s %-28s %-8s %-8s %s\n", "ID", "NAME", "VERSION", "RECORDS", "MEMBERS"; n = 0 }
    /^    "id": /             { id = val($0) }
    /^    "name": /           { name = val($0) }
    /^    "version": /        { version = val($0) }
    /^    "record_count": /   { records = val($0) }
    /^    "members": (\[\]|null)/ { members = "" }
    /^    "members": \[$/     { members = ""; inside = 1; next }
    inside && /^    \]/       { inside = 0; next }
    inside                    { m = $0; gsub(/^ *"|",?$/, "", m); members = members (members == "" ? "" : " ") m; next }
    /^  },?$/                 { printf "%-7s %-28s %-8s %-8s %s\n", id, name, version, records, members; n++ }
    END                       { if (n == 0) print "(no lists)" }
  ' "$1"
}
compare_lists() { # compare_lists TITLE APP EXPECTED SAVED
  local title=$1 app=$2 expected=$3 saved=$4
  curl -fsS "$SIM_URL/_sim/audiences?app_id=$app" >"$saved"
  grep -Ev '^    "(id|audience_id|app_id|created_at|updated_at)": ' "$saved" >"$saved.compared" || true
  say "$title"
  echo "simulator: GET /_sim/audiences?app_id=$app"
  sim_lists "$saved"
  echo
  printf '%-48s%s\n' "expected: ${expected##*/}" "simulator (ids and times left out)"
  if diff -y -W 100 "$expected" "$saved.compared" | expand; then
    echo "OK: the simulator's list holds exactly the source's distinct customer ids"
  else
    show_failure
    die "the simulator's audience lists ($saved) differ from $expected"
  fi
}
compare_lists "app scope: vip-customers (jsonl from the ConfigMap vip-customers)" \
  "$APP_ID" config/demo/expected/audiences-app.json "$DEMO_DIR/sim-audiences-app.json"
compare_lists "another app: churn-risk-2026-11 (lines from s3://$CRM_BUCKET/$CHURN_OBJECT: 5 lines, 1 repeated, blanks trimmed)" \
  "$CRM_APP_ID" config/demo/expected/audiences-app-crm.json "$DEMO_DIR/sim-audiences-app-crm.json"

say "demo complete: the three ProfileImports Completed, the two AudienceLists Ready; the simulator holds the samples' changes and lists"

if [[ ${DEMO_KEEP:-} == 1 ]]; then
  rel_kc=${KUBECONFIG_FILE#"$ROOT"/}
  rel_kubectl=${KUBECTL#"$ROOT"/}
  cat <<EOF

Everything keeps running (DEMO_KEEP=1). Explore from another shell in $ROOT:

  export KUBECONFIG=$rel_kc
  kubectl=$rel_kubectl
  \$kubectl get localytics
  \$kubectl get pi -o wide
  \$kubectl describe pi loyalty-tiers-2026-11
  \$kubectl get lya acme -o yaml              # the upload ledger, budgets and lists per app
  \$kubectl get events --sort-by=.lastTimestamp

  curl '$SIM_URL/_sim/profiles?org_id=60'
  curl '$SIM_URL/_sim/profiles?app_id=$APP_ID'
  curl '$SIM_URL/_sim/profiles?app_id=$CRM_APP_ID'
  curl '$SIM_URL/_sim/audiences?app_id=$APP_ID'
  curl '$SIM_URL/_sim/audiences?app_id=$CRM_APP_ID'
  curl $SIM_URL/_sim/uploads
  curl '$SIM_URL/_sim/calls?endpoint=A6'     # one list-by-app call per app every $DEMO_DRIFT_INTERVAL
  curl '$SIM_URL/_sim/budgets?key=demo'
  tail -f ${DEMO_DIR#"$ROOT"/}/manager.log

Try the AudienceLists. Watch them in one shell (kubectl get al -o wide -w), and after each
step look at the simulator's lists (curl '$SIM_URL/_sim/audiences?app_id=$APP_ID'):

  # 1. Replace: change the customer ids (kubectl edit cm vip-customers, or this patch).
  #    The same LIST ID, VERSION 2, RECORDS 2; events Validated, Replaced.
  \$kubectl patch cm vip-customers --type merge \\
    -p '{"data":{"customers.jsonl":"{\"customer_id\":\"abc\"}\n{\"customer_id\":\"new-vip\"}\n"}}'
  \$kubectl get events --field-selector involvedObject.name=vip-customers

  # 2. Rename: the list's name in the simulator changes; event Renamed.
  \$kubectl patch al vip-customers --type merge -p '{"spec":{"audienceName":"VIP customers (gold)"}}'

  # 3. Rename or delete it outside the cluster, as a person in the dashboard would. Within
  #    the drift interval ($DEMO_DRIFT_INTERVAL) it is renamed back (event RenamedOutside), or
  #    created again from the source with a new LIST ID (events DeletedOutside, Created).
  id=\$(\$kubectl get al vip-customers -o jsonpath='{.status.audienceListID}')
  curl -X PUT "$SIM_URL/_sim/audiences/\$id/name?name=Renamed+outside"
  curl -X DELETE $SIM_URL/_sim/audiences/\$id

  # 4. Delete: vip-customers (deletionPolicy Delete) is deleted in the simulator too;
  #    churn-risk-2026-11 (deletionPolicy Orphan) stays there.
  \$kubectl delete al vip-customers churn-risk-2026-11
  curl '$SIM_URL/_sim/audiences'

Press Ctrl-C to stop everything.
EOF
  # wait returns when a signal arrives (the traps above then clean up) or when one of
  # the processes exits, which ends the demo too.
  wait -n "${PIDS[@]}" || true
  die "a process exited on its own; stopping the rest (logs in ${DEMO_DIR#"$ROOT"/}/)"
fi
