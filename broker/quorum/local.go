package quorum

import (
	"context"
	"sync"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// localInbox is how many messages wait for a node before LocalNetwork drops more.
const localInbox = 4096

// LocalNetwork connects Nodes in one process, for tests: each message is copied (as a wire
// would) and delivered to the destination's Step from a goroutine per node. Messages to a node
// that is not attached, or whose inbox is full, are dropped and reported unreachable, as a
// network transport would.
type LocalNetwork struct {
	mu    sync.Mutex
	peers map[uint64]*localPeer
}

type localPeer struct {
	node   *Node
	inbox  chan *pb.Message
	cancel context.CancelFunc
	done   chan struct{}
}

// NewLocalNetwork returns a network with no node attached.
func NewLocalNetwork() *LocalNetwork {
	return &LocalNetwork{peers: make(map[uint64]*localPeer)}
}

// Transport returns the transport for the node with id from.
func (net *LocalNetwork) Transport(from uint64) Transport { return localTransport{net, from} }

// Attach starts delivering messages to n (replacing an earlier node with its id).
func (net *LocalNetwork) Attach(n *Node) {
	net.Detach(n.ID())
	ctx, cancel := context.WithCancel(context.Background())
	p := &localPeer{node: n, inbox: make(chan *pb.Message, localInbox), cancel: cancel, done: make(chan struct{})}
	net.mu.Lock()
	net.peers[n.ID()] = p
	net.mu.Unlock()
	go func() {
		defer close(p.done)
		for {
			select {
			case m := <-p.inbox:
				if err := n.Step(ctx, m); err != nil {
					return // stopped or detached
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}

// Detach stops delivering to the node with id; later messages to it are dropped.
func (net *LocalNetwork) Detach(id uint64) {
	net.mu.Lock()
	p := net.peers[id]
	delete(net.peers, id)
	net.mu.Unlock()
	if p != nil {
		p.cancel()
		<-p.done
	}
}

type localTransport struct {
	net  *LocalNetwork
	from uint64
}

// Send implements Transport.
func (t localTransport) Send(msgs []*pb.Message) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	sender := t.net.peers[t.from]
	for _, m := range msgs {
		to := m.GetTo()
		delivered := false
		if p := t.net.peers[to]; p != nil {
			select {
			case p.inbox <- proto.Clone(m).(*pb.Message):
				delivered = true
			default:
			}
		}
		if sender == nil {
			continue
		}
		if !delivered {
			sender.node.ReportUnreachable(to)
		}
		if m.GetType() == pb.MessageType_MsgSnap {
			status := raft.SnapshotFinish
			if !delivered {
				status = raft.SnapshotFailure
			}
			sender.node.ReportSnapshot(to, status)
		}
	}
}
