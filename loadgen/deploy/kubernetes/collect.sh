#!/usr/bin/env bash
# The merged report of a loadgen Job, from segment 0's log, and where its files are.
#
#   loadgen/deploy/kubernetes/collect.sh [JOB]            # JOB defaults to loadgen
#   KUBECTL="kubectl -n loadtest" collect.sh              # another namespace or context
#
# Prints the report found between segment 0's markers on stdout, the rest on stderr.
# Exits with segment 0's exit code (0 ok, 4 a segment missing or lost, 99 thresholds
# failed), or 1 when there is no report yet (still running?) or no segment 0.
set -euo pipefail

job=${1:-loadgen}
read -r -a kubectl <<<"${KUBECTL:-kubectl}"
begin='--- loadgen merged report begin ---'
end='--- loadgen merged report end ---'

say() { echo "collect.sh: $*" >&2; }

# Segment 0's pod: by the completion-index label (Kubernetes 1.28 and later), else by
# the annotation of the same name that every Indexed Job's pod carries.
pod=$("${kubectl[@]}" get pods -l "job-name=$job,batch.kubernetes.io/job-completion-index=0" \
    -o jsonpath='{.items[*].metadata.name}')
if [ -z "$pod" ]; then
    pod=$("${kubectl[@]}" get pods -l "job-name=$job" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}{"\n"}{end}' \
        | awk '$2 == "0" { print $1 }')
fi
# backoffLimit 0 makes one pod per index; were there more, the last listed is read.
pod=$(tr ' ' '\n' <<<"$pod" | sed '/^$/d' | tail -n 1)
if [ -z "$pod" ]; then
    say "no pod of segment 0 of job $job (kubectl get pods -l job-name=$job)"
    exit 1
fi

report=$("${kubectl[@]}" logs "$pod" | awk -v b="$begin" -v e="$end" '
    $0 == e { inside = 0; done = 1 }
    inside { print }
    $0 == b && !done { inside = 1 }')
if [ -z "$report" ]; then
    say "no merged report in the log of $pod yet (still running? kubectl logs $pod)"
    exit 1
fi
printf '%s\n' "$report"

claim=$("${kubectl[@]}" get job "$job" \
    -o jsonpath='{.spec.template.spec.volumes[?(@.name=="reports")].persistentVolumeClaim.claimName}')
say "report from pod $pod (segment 0)"
say "files: on the volume claim ${claim:-(none found: see the Job)}: segment-0/ holds the merged"
say "  report files run.yaml's flags name, segment-I/ each segment's own (result.json);"
say "  the pods have no shell: read them from a pod with one that mounts the claim"
say "  (docs/distributed.md, Running on Kubernetes)"

code=$("${kubectl[@]}" get pod "$pod" \
    -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')
case "${code:-}" in
    0) say "segment 0 exited 0: the run passed" ;;
    4) say "segment 0 exited 4: a segment was missing or lost, the run failed" ;;
    99) say "segment 0 exited 99: thresholds failed" ;;
    '') say "segment 0 has not exited yet"; code=1 ;;
    *) say "segment 0 exited $code" ;;
esac
exit "$code"
