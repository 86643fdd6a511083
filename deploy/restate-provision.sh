# Provisions the Restate cluster of compose's cluster profile, once (the `restate-provision`
# one-shot runs it in the restate image, which ships restatectl; POSIX sh, the image's /bin/sh is dash).
# Every node runs deploy/restate-cluster.toml with auto-provision off and waits unprovisioned; this
# is the one party that provisions, with the nodes' configured defaults (replication 2, 2 partitions),
# like stack/init.py does for `agentpipe up --cluster`. It retries while the nodes do not answer yet;
# a cluster that is already provisioned (an earlier `up`) counts as done, so every `up` may run it.
#
#   RESTATECTL_ADDRESS   node addresses, comma-separated
#   PROVISION_ATTEMPTS   attempts, 2 s apart (default 60)
set -u

: "${RESTATECTL_ADDRESS:?set RESTATECTL_ADDRESS to the nodes' addresses}"
attempts=${PROVISION_ATTEMPTS:-60}
attempt=0
out=""
while [ "$attempt" -lt "$attempts" ]; do
    attempt=$((attempt + 1))
    if out=$(restatectl provision --address "$RESTATECTL_ADDRESS" --yes 2>&1); then
        printf 'restate-provision: cluster provisioned (attempt %s): %s\n' "$attempt" "$(printf '%s' "$out" | tail -n 1)"
        exit 0
    fi
    case $(printf '%s' "$out" | tr 'A-Z' 'a-z') in
        *"already provisioned"*)
            echo "restate-provision: cluster already provisioned"
            exit 0
            ;;
    esac
    if [ $((attempt % 10)) -eq 1 ]; then
        printf 'restate-provision: waiting for the nodes: %s\n' "$(printf '%s' "$out" | tail -n 1)"
    fi
    sleep 2
done
printf 'restate-provision: gave up after %s attempts: %s\n' "$attempts" "$(printf '%s' "$out" | tail -n 3)" >&2
exit 1
