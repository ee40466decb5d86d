#!/bin/sh
# run.sh NAME CMD...: runs CMD under a waiting parent shell; the parent
# writes /tmp/NAME.pid (CMD's pid), CMD's output to /tmp/NAME.out and the
# status `wait` saw to /tmp/NAME.st.
name=$1; shift
rm -f /tmp/$name.pid /tmp/$name.out /tmp/$name.st
setsid sh -c 'n=$1; shift; "$@" > /tmp/$n.out 2>&1 < /dev/null & echo $! > /tmp/$n.pid; wait $!; echo $? > /tmp/$n.st' sh "$name" "$@" > /dev/null 2>&1 < /dev/null &
i=0
while [ ! -s /tmp/$name.pid ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
cat /tmp/$name.pid
