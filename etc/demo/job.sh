#!/bin/sh
# One glidein demo job: sleep 1-3 s, then print "demo job N: N*N".
n=$1
sleep $(( 1 + n % 3 ))
echo "demo job $n: $(( n * n ))"
