# Five 2 GiB sequential writes (dd, 1 MiB blocks, one fdatasync at the end); CPU from /usr/bin/time.
w() { /usr/bin/time -f "$1 %e s elapsed, %S sys %U user" dd if=/dev/zero of=$1 bs=1M count=2048 conv=fdatasync status=none; }
w f1; w f2; w f3            # grow: page cache grows by 6 GiB, files kept
rm -f f1; w f4              # reuse: f1's pages were just freed
rm -f f2 f3; sleep 30; w f5 # freed 30 s ago
