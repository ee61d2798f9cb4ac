// Package netpoll is a Linux epoll reactor for servers whose requests are
// length-prefixed frames and whose replies are bytes and file ranges. It
// knows frames and file ranges, not Kafka.
//
// # Loops
//
// A Server runs Config.Loops event loops (one per core by default). Each
// loop is one goroutine with an epoll instance, edge-triggered, and an
// eventfd that other goroutines write to wake it; a wake-up is written only
// when the loop is asleep and not already woken, so a burst of replies
// finished elsewhere costs one eventfd write. Loop 0 also accepts, without
// blocking, and gives each new connection to the loop with the fewest. A
// connection belongs to one loop for its whole life: only that loop reads
// it and closes it, and only it writes it, but for the direct writes of
// replies below. Its reading state needs no lock; its writing state (the
// queue of replies and the write position) is under a mutex of the
// connection's, which the loop holds while it writes and a direct writer
// only tries. There is no goroutine per connection.
//
// # Reading
//
// Each loop has one read buffer (Config.ReadBufferSize) shared by its
// connections. A read goes there; complete frames (a 4-byte big-endian
// size, then that many bytes) are handed to Handler.OnFrame straight from
// it, and only the tail of a frame cut by the read is copied into a buffer
// of the connection's own. A frame larger than the loop buffer, once its
// size has been checked against Config.MaxFrameSize, is read into a
// buffer of its own: a free pooled one with room for all of it, or a new
// one of its size while Config.MaxBufferAhead (shared by the server's
// connections) allows, so that it is read without a copy; or else one
// that grows as its bytes arrive, so that a client that announces a large
// frame holds at most twice the memory it has sent. These
// buffers are pooled by power-of-two size (per loop up to 1 MiB, above
// that in package bufpool's pools up to 128 MiB, shared with the rest of
// the process and emptied by the GC) and go back as soon as the frame
// has been handled, so an idle connection holds no buffer and a producer
// sending multi-MiB requests allocates none per request. A handler may
// keep a frame past OnFrame (Conn.KeepFrame) and give a large one's
// buffer back from another goroutine when it is done with it.
//
// # Replies
//
// OnFrame reserves the frame's reply with Conn.NewReply (or none, for a
// request that gets no answer) and may finish it before returning or later
// from any goroutine: a reply that waits for a disk sync or a long poll
// does not hold the loop. A reply is pieces, bytes (written with writev,
// several replies' pieces in one call) and file ranges (sendfile(2) at an
// explicit offset, never the file's shared position). Replies are written
// in the order they were reserved, whatever order they finish in. When the
// socket is full (EAGAIN) the loop moves on and resumes on EPOLLOUT. After
// a reply is written, or dropped because the connection closed, its
// release function runs, once, on the loop or on the goroutine that wrote
// the reply (below), never concurrently with another of the connection's
// releases or with OnClose.
//
// A reply finished off the loop (by a goroutine that waited for a disk
// sync, say) that is the connection's next to write, with nothing of it
// written yet and the loop not writing, is written by the goroutine that
// finished it, with a non-blocking writev (together with the finished
// replies queued behind it), and released there; whatever the socket does
// not take is left to the loop, which owns the rest and EPOLLOUT as above.
// Only replies of bytes go this way; one with a file range, one finished
// while the loop dispatches its connection's frames (it joins the other
// replies of that read in one writev), and one that finds the loop
// writing are written by the loop, which is woken for them. So at a low
// rate a reply reaches the socket without the wake-up of a parked loop
// (an eventfd write, Go's netpoller readying the loop's goroutine, a P for
// it): the loop is woken only when it has something to resume or close.
//
// A request whose handling itself blocks (it creates files and syncs
// them, say) is handed to another goroutine after Conn.Hold: the
// connection's next frames are dispatched only after Conn.Unhold, so its
// requests are still handled one after another, in order.
//
// # Back-pressure
//
// A connection's requests stop being read while it has Config.MaxInFlight
// replies reserved and not yet written, or Config.MaxQueuedBytes of
// finished reply bytes waiting for the client to read them. So a client
// that does not read holds at most that many replies plus one frame of
// memory; its unread requests wait in the kernel's socket buffer and TCP
// flow control stops it.
//
// # Closing
//
// A peer's EOF or Conn.Shutdown stops reading; the replies reserved are
// still written, then the socket is closed. Conn.Close and errors close it
// at once. Either way Handler.OnClose runs once every reserved reply has
// been finished and released. Server.Close stops accepting, shuts every
// connection down that way and returns when all are closed.
//
// Elsewhere than Linux NewServer returns ErrUnsupported; callers use Go's
// net package instead.
package netpoll
