#!/bin/sh
# Helper for cmd_backtick_pass.pkt: succeeds only when run from this folder.
test -f ./EXPECTED.txt && test -f ./cmd_backtick_pass.pkt
