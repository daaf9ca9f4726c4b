#!/usr/bin/env bash
# The HTTP test of the prediction API sample: starts it on a free localhost port, sends real requests with curl,
# checks the answers and the error responses to bad requests, and stops it.
#
#   bash samples/test-api.sh PredictionApi.dll CHECKPOINT EXAMPLE_JSON
#
# EXAMPLE_JSON ({"tokens": [[...]], "nextToken": N}, written by the MambaGeneration sample from the same checkpoint
# through the step contract) gives the answer the API must return for that row (it computes it by the full forward).
set -euo pipefail
dll=$1 checkpoint=$2 example=$3
work=$(mktemp -d)
server_log=$work/server.log
pid=
stop_server() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT
fail() { echo "FAILED: $*"; echo "--- server log:"; cat "$server_log"; exit 1; }

# Port 0: Kestrel binds a free loopback port and the app prints the address it got.
dotnet "$dll" --checkpoint "$checkpoint" --port 0 >"$server_log" 2>&1 &
pid=$!
base=
for _ in $(seq 1 120); do
    base=$(sed -n 's/^PredictionApi listening on \(http:[^ ]*\).*/\1/p' "$server_log")
    [ -n "$base" ] && break
    kill -0 "$pid" 2>/dev/null || fail "the API exited before it listened"
    sleep 0.5
done
[ -n "$base" ] || fail "the API did not start within 60 s"
echo "API at $base"

checks=0
# request NAME EXPECTED_STATUS EXPECTED_BODY_SUBSTRING [curl arguments...]
request() {
    local name=$1 status=$2 needle=$3; shift 3
    local body=$work/body code
    code=$(curl -sS -o "$body" -w '%{http_code}' --max-time 60 "$@") || fail "$name: curl failed"
    [ "$code" = "$status" ] || fail "$name: HTTP $code, expected $status; body: $(head -c 400 "$body")"
    grep -qF -- "$needle" "$body" || fail "$name: the body lacks '$needle'; body: $(head -c 400 "$body")"
    kill -0 "$pid" 2>/dev/null || fail "$name: the API process died"
    checks=$((checks + 1))
    echo "ok: $name (HTTP $code)"
}
post() { request "$1" "$2" "$3" -X POST -H 'Content-Type: application/json' "$base/predict" "${@:4}"; }

request 'model info' 200 '"vocabularySize":' "$base/model"
vocabulary=$(curl -sS "$base/model" | sed -n 's/.*"vocabularySize":\([0-9]*\).*/\1/p')
[ -n "$vocabulary" ] || fail "no vocabularySize in /model"

# The answer: the next token the MambaGeneration sample predicted step by step for this row.
tokens=$(sed -n 's/.*"tokens":\(\[\[[0-9,]*\]\]\).*/\1/p' "$example")
next=$(sed -n 's/.*"nextToken":\([0-9]*\).*/\1/p' "$example")
[ -n "$tokens" ] && [ -n "$next" ] || fail "cannot read tokens and nextToken from $example"
post 'prediction equals the step-mode one' 200 "\"nextTokens\":[$next]" --data "{\"tokens\":$tokens}"
row=${tokens#[}; row=${row%]}
post 'a batch of two rows' 200 "\"nextTokens\":[$next,$next]" --data "{\"tokens\":[$row,$row]}"
post 'a one-token row' 200 '"probabilities":[' --data '{"tokens":[[1]]}'

# Wrong shape.
post 'rows of different lengths' 400 'every row must have the same length' --data '{"tokens":[[1,2,3],[1,2]]}'
post 'a flat array instead of rows' 400 'tokens[0]: expected an array of token ids' --data '{"tokens":[1,2,3]}'
post 'no tokens field' 400 'without \"tokens\"' --data '{"input":[[1,2]]}'
post 'an empty row' 400 'tokens[0]: expected at least one token' --data '{"tokens":[[]]}'
# Wrong type.
post 'a string token' 400 'tokens[0][1]: expected an integer token id, got the string \"b\"' --data '{"tokens":[[1,"b",2]]}'
post 'a fractional token' 400 'tokens[0][0]: expected an integer token id, got the number 1.5' --data '{"tokens":[[1.5]]}'
post 'tokens as a string' 400 'tokens: expected an array of rows' --data '{"tokens":"1 2 3"}'
post 'a token outside the vocabulary' 400 "tokens[0][1]: expected a token id in [0, $vocabulary), got $vocabulary" \
    --data "{\"tokens\":[[0,$vocabulary]]}"
post 'a negative token' 400 "expected a token id in [0, $vocabulary), got -1" --data '{"tokens":[[-1]]}'
post 'invalid JSON' 400 'the body is not valid JSON' --data '{"tokens":[[1,2'
request 'not JSON' 415 'expected Content-Type application/json' -X POST -H 'Content-Type: text/plain' \
    --data 'tokens=1,2' "$base/predict"
# Oversized input.
long_row=$(seq -s, 1 3000 | sed 's/[0-9]\+/1/g')
post 'a row over the token limit' 413 'tokens[0]: at most 2048 tokens per row, got 3000' --data "{\"tokens\":[[$long_row]]}"
many_rows=$(printf '[1],%.0s' $(seq 1 17)); many_rows=${many_rows%,}
post 'more rows than the limit' 413 'at most 16 rows per request, got 17' --data "{\"tokens\":[$many_rows]}"
big=$work/big.json
{ printf '{"tokens":[['; head -c 1200000 /dev/zero | tr '\0' '1'; printf ']]}'; } > "$big"
post 'a body over 1 MiB' 413 'at most 1048576 bytes' --data-binary "@$big"

# Still serving after all of that.
post 'still answering after the bad requests' 200 "\"nextTokens\":[$next]" --data "{\"tokens\":$tokens}"
stop_server
pid=
echo "$checks HTTP checks passed (answers, wrong shape, wrong type, oversized input)"
