#!/usr/bin/env bash
# Run a real single-node Apache Kafka broker (KRaft, broker+controller in one
# JVM) from Maven Central jars, for local development and integration tests.
#
# Usage: ingest/kafka.sh fetch|start|stop|status|logs [-f] [LINES]
#
#   fetch   download the broker jars once into .kafka/lib (no-op when complete)
#   start   fetch if needed, format the state dir if it is new, start the broker
#           in the background on 127.0.0.1 and wait until it serves; a no-op
#           when it is already running and healthy
#   stop    SIGTERM, wait up to 30 s, then SIGKILL; a no-op when not running
#   status  exit 0 when running, 3 when not
#   logs    print the last LINES (default 100) lines of the broker log; -f follows
#
# Environment:
#   KAFKA_PORT             broker (PLAINTEXT) port, default 9092
#   KAFKA_CONTROLLER_PORT  KRaft controller port, default 9093
#   KAFKA_STATE_DIR        config, data, log and pid file, default <repo>/.kafka/run
#   KAFKA_LIB_DIR          jar directory, default <repo>/.kafka/lib
#   KAFKA_START_TIMEOUT    seconds to wait for readiness, default 90
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM, default 30
#   KAFKA_HEAP_OPTS        default "-Xms256m -Xmx512m"
#   KAFKA_JVM_OPTS         extra JVM flags, appended
#
# Files in KAFKA_STATE_DIR: server.properties, data/ (log.dirs; data/meta.properties
# marks it formatted, so a restart keeps the topics), broker.log (broker.log.prev
# holds the previous run), format.log, broker.pid.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd -P)

POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONFIG="$SCRIPT_DIR/log4j2.properties"
TEMPLATE="$SCRIPT_DIR/server.properties.template"

LIB_DIR=${KAFKA_LIB_DIR:-$ROOT_DIR/.kafka/lib}
STATE_DIR=${KAFKA_STATE_DIR:-$ROOT_DIR/.kafka/run}
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
HOST=127.0.0.1
READY_LINE="Kafka Server started"

PROPS="$STATE_DIR/server.properties"
DATA_DIR="$STATE_DIR/data"
LOG_FILE="$STATE_DIR/broker.log"
PID_FILE="$STATE_DIR/broker.pid"
MARKER="$LIB_DIR/.complete"

log() { printf 'kafka.sh: %s\n' "$*"; }
die() { printf 'kafka.sh: error: %s\n' "$*" >&2; exit 1; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH. $2"
}

check_int() {
    [[ $2 =~ ^[0-9]+$ ]] || die "$1 must be a whole number, got '$2'"
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

seconds_since() {  # $1 = start in ms -> "12.34"
    local ms=$(( $(now_ms) - $1 ))
    printf '%d.%02d' $(( ms / 1000 )) $(( ms % 1000 / 10 ))
}

kafka_version() {
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1
}

# The marker holds a hash of pom.xml, so a version bump in the POM re-fetches.
pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

jars_complete() {
    [[ -f $MARKER ]] && [[ $(cat "$MARKER") == "$(pom_hash)" ]] \
        && compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null \
        && compgen -G "$LIB_DIR/log4j-slf4j-impl-*.jar" >/dev/null
}

cmd_fetch() {
    if jars_complete; then
        log "jars already present in $LIB_DIR (Kafka $(kafka_version))"
        return 0
    fi
    need mvn "Install Apache Maven 3.6+ (Debian: apt-get install maven)."
    need java "Install a Java 17+ JDK (Debian: apt-get install openjdk-17-jdk-headless)."
    mkdir -p "$(dirname -- "$LIB_DIR")"
    # Serialise concurrent fetches (parallel test workers).
    exec 8>"$LIB_DIR.lock"
    flock 8
    if jars_complete; then
        log "jars already present in $LIB_DIR (Kafka $(kafka_version))"
        exec 8>&-
        return 0
    fi
    local tmp="$LIB_DIR.tmp.$$" t0 out
    rm -rf -- "$tmp"
    t0=$(now_ms)
    log "downloading Kafka $(kafka_version) jars from Maven Central into $LIB_DIR ..."
    if ! out=$(mvn -B -q -f "$POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1); then
        printf '%s\n' "$out" >&2
        rm -rf -- "$tmp"
        die "mvn dependency:copy-dependencies failed"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "no kafka_2.13 jar was downloaded"
    compgen -G "$tmp/log4j-slf4j-impl-*.jar" >/dev/null || die "no log4j-slf4j-impl jar was downloaded"
    pom_hash >"$tmp/.complete"
    rm -rf -- "$LIB_DIR"
    mv -- "$tmp" "$LIB_DIR"
    log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIB_DIR" | cut -f1)) in $(seconds_since "$t0") s"
    exec 8>&-
}

# Prints the pid of this state dir's broker if that process is alive.
broker_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against pid reuse: the process must be this state dir's broker.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
    echo "$pid"
}

port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

log_ready() {
    [[ -f $LOG_FILE ]] && grep -qF "$READY_LINE" "$LOG_FILE"
}

log_tail() {
    if [[ -f $LOG_FILE ]]; then
        echo "---- last 60 lines of $LOG_FILE ----" >&2
        tail -n 60 "$LOG_FILE" >&2
        echo "----" >&2
    fi
}

new_cluster_id() {
    # Canonical form: 16 random bytes, URL-safe base64, no padding, no leading '-'.
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        [[ $id != -* ]] && break
    done
    echo "$id"
}

check_java() {
    need java "Install a Java 17+ JDK (Debian: apt-get install openjdk-17-jdk-headless)."
    local v
    v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [[ -n $v && $v -lt 17 ]]; then
        die "Kafka 4.x needs Java 17 or newer; 'java' is version $v"
    fi
}

jvm_opts() {
    # shellcheck disable=SC2206
    JVM=($HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError
         -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J_CONFIG"
         ${KAFKA_JVM_OPTS:-})
}

render_config() {
    mkdir -p "$DATA_DIR"
    sed -e "s#@BROKER_PORT@#$PORT#g" \
        -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
        -e "s#@LOG_DIR@#$DATA_DIR#g" \
        "$TEMPLATE" >"$PROPS.tmp"
    mv -- "$PROPS.tmp" "$PROPS"
}

wait_ready() {  # $1 = pid, $2 = start time in ms
    local pid=$1 t0=$2 deadline
    deadline=$(( $(date +%s) + START_TIMEOUT ))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f -- "$PID_FILE"
            log_tail
            die "broker (pid $pid) exited during start-up"
        fi
        if log_ready && port_open "$PORT"; then
            log "Kafka $(kafka_version) ready on $HOST:$PORT (pid $pid, state $STATE_DIR) in $(seconds_since "$t0") s"
            return 0
        fi
        if (( $(date +%s) >= deadline )); then
            log_tail
            log "not ready after ${START_TIMEOUT} s, stopping it" >&2
            stop_pid "$pid" >&2 || true
            die "broker did not become ready within ${START_TIMEOUT} s"
        fi
        sleep 0.25
    done
}

cmd_start() {
    check_int KAFKA_PORT "$PORT"
    check_int KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
    check_int KAFKA_START_TIMEOUT "$START_TIMEOUT"
    [[ $PORT != "$CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
    local t0 pid
    t0=$(now_ms)
    check_java
    jars_complete || cmd_fetch
    mkdir -p "$STATE_DIR"
    STATE_DIR=$(cd -- "$STATE_DIR" && pwd -P)
    PROPS="$STATE_DIR/server.properties"; DATA_DIR="$STATE_DIR/data"
    LOG_FILE="$STATE_DIR/broker.log"; PID_FILE="$STATE_DIR/broker.pid"

    # One start or stop at a time per state dir. fd 9 is closed for the JVM below.
    exec 9>"$STATE_DIR/.lock"
    flock 9

    if pid=$(broker_pid); then
        if log_ready && port_open "$PORT"; then
            log "already running and healthy on $HOST:$PORT (pid $pid, state $STATE_DIR)"
            return 0
        fi
        log "already running (pid $pid) but not serving yet on $HOST:$PORT, waiting"
        wait_ready "$pid" "$t0"
        return 0
    fi
    rm -f -- "$PID_FILE"

    for p in "$PORT" "$CONTROLLER_PORT"; do
        ! port_open "$p" || die "port $HOST:$p is already in use by another process"
    done

    jvm_opts
    render_config
    if [[ -f $DATA_DIR/meta.properties ]]; then
        log "state dir already formatted, keeping data: $DATA_DIR"
    else
        local cid
        cid=$(new_cluster_id)
        log "formatting new KRaft state dir $DATA_DIR (cluster id $cid)"
        if ! java "${JVM[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool format \
                -t "$cid" -c "$PROPS" >"$STATE_DIR/format.log" 2>&1 9>&-; then
            cat "$STATE_DIR/format.log" >&2
            die "kafka.tools.StorageTool format failed"
        fi
    fi

    [[ -f $LOG_FILE ]] && mv -f -- "$LOG_FILE" "$LOG_FILE.prev"
    # setsid: the broker must not die with the caller's terminal or process group.
    # All three standard streams are redirected, so a caller capturing this
    # script's output (subprocess.run) does not wait for the broker to exit.
    setsid java "${JVM[@]}" -cp "$LIB_DIR/*" kafka.Kafka "$PROPS" \
        </dev/null >"$LOG_FILE" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    log "started broker pid $pid, waiting up to ${START_TIMEOUT} s for $HOST:$PORT"
    wait_ready "$pid" "$t0"
}

stop_pid() {  # $1 = pid
    local pid=$1 deadline
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    while kill -0 "$pid" 2>/dev/null; do
        if (( $(date +%s) >= deadline )); then
            log "pid $pid still alive after ${STOP_TIMEOUT} s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f -- "$PID_FILE"
}

cmd_stop() {
    check_int KAFKA_STOP_TIMEOUT "$STOP_TIMEOUT"
    if [[ ! -d $STATE_DIR ]]; then
        log "not running (no state dir $STATE_DIR)"
        return 0
    fi
    STATE_DIR=$(cd -- "$STATE_DIR" && pwd -P)
    PROPS="$STATE_DIR/server.properties"; PID_FILE="$STATE_DIR/broker.pid"
    exec 9>"$STATE_DIR/.lock"
    flock 9
    local pid t0
    if ! pid=$(broker_pid); then
        rm -f -- "$PID_FILE"
        log "not running (state $STATE_DIR)"
        return 0
    fi
    t0=$(now_ms)
    stop_pid "$pid"
    log "stopped broker pid $pid in $(seconds_since "$t0") s"
}

cmd_status() {
    local pid
    if [[ -d $STATE_DIR ]]; then
        STATE_DIR=$(cd -- "$STATE_DIR" && pwd -P)
        PROPS="$STATE_DIR/server.properties"; PID_FILE="$STATE_DIR/broker.pid"
        LOG_FILE="$STATE_DIR/broker.log"
        if pid=$(broker_pid); then
            if log_ready && port_open "$PORT"; then
                log "running, serving on $HOST:$PORT (pid $pid, state $STATE_DIR)"
            else
                log "running but not serving on $HOST:$PORT (pid $pid, state $STATE_DIR)"
            fi
            return 0
        fi
    fi
    log "not running (state $STATE_DIR)"
    return 3
}

cmd_logs() {
    local follow=() lines=100
    for a in "$@"; do
        case $a in
            -f|--follow) follow=(-F) ;;
            *) check_int LINES "$a"; lines=$a ;;
        esac
    done
    [[ -f $LOG_FILE ]] || die "no broker log at $LOG_FILE"
    tail -n "$lines" "${follow[@]}" -- "$LOG_FILE"
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        fetch) cmd_fetch ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        logs) cmd_logs "$@" ;;
        -h|--help|help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
