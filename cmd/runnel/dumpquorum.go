package main

// runnel dump-log on the controller quorum's files (broker/quorum/doc.go):
// the metadata log's Raft entries and their metadata records, snapshot
// (.checkpoint) files and quorum-state. The bytes are read by the quorum's
// and the metadata package's own decoders (quorum.DecodeEntry,
// quorum.ReadSnapshot, metadata.DecodeBatch), never a second reader.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"runnel/broker/metadata"
	"runnel/broker/quorum"
	"runnel/segment"
)

// dumpEntry prints the Raft entry a batch of the metadata log holds and,
// for a normal entry, its metadata records; false if they do not decode.
func (d *dumper) dumpEntry(h segment.BatchHeader, batch []byte) bool {
	e, err := quorum.DecodeEntry(h, batch)
	if err != nil {
		fmt.Fprintf(d.w, "| cannot decode the Raft entry: %v\n", err)
		return false
	}
	fmt.Fprintf(d.w, "| offset: %d %s: %d index: %d term: %d entryType: %s dataSize: %d\n",
		h.BaseOffset, timestampName(h), h.MaxTimestamp, e.GetIndex(), e.GetTerm(), e.GetType(), len(e.GetData()))
	var cc pb.ConfChangeI
	switch e.GetType() {
	case pb.EntryNormal:
		// A new leader's entry is empty.
		return len(e.GetData()) == 0 || d.printMetadataRecords(e.GetData())
	case pb.EntryConfChange:
		cc = new(pb.ConfChange)
	case pb.EntryConfChangeV2:
		cc = new(pb.ConfChangeV2)
	default: // a type DecodeEntry knows and this build does not describe
		return true
	}
	if err := proto.Unmarshal(e.GetData(), cc.(proto.Message)); err != nil {
		fmt.Fprintf(d.w, "|   cannot decode the configuration change: %v\n", err)
		return false
	}
	fmt.Fprintf(d.w, "|   confChange: %s\n", raft.DescribeConfChange(cc))
	return true
}

// printMetadataRecords prints the records of a batch of metadata records
// (an entry's data, a snapshot's), a payload line each as
// kafka-dump-log.sh --cluster-metadata-decoder prints them:
// {"type":"TOPIC_RECORD","data":{...}}.
func (d *dumper) printMetadataRecords(batch []byte) bool {
	records, err := metadata.DecodeBatch(batch)
	if err != nil {
		fmt.Fprintf(d.w, "|   cannot decode the metadata records: %v\n", err)
		return false
	}
	for _, r := range records {
		b, err := json.Marshal(struct {
			Type string          `json:"type"`
			Data metadata.Record `json:"data"`
		}{kafkaRecordTypeName(r.Type()), r})
		if err != nil {
			fmt.Fprintf(d.w, "|   cannot print a %v record: %v\n", r.Type(), err)
			return false
		}
		fmt.Fprintf(d.w, "|   payload: %s\n", b)
	}
	return true
}

// kafkaRecordTypeName is the name Kafka's MetadataRecordType gives the
// record of the same number: PartitionChange is PARTITION_CHANGE_RECORD.
func kafkaRecordTypeName(t metadata.RecordType) string {
	var b strings.Builder
	for i, c := range t.String() {
		if unicode.IsUpper(c) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String() + "_RECORD"
}

// dumpQuorumSnapshot prints a snapshot file of the metadata log: the end
// offset and epoch its name gives (as kafka-dump-log.sh prints them), its
// batch, and under --deep-iteration the snapshot it holds.
func (d *dumper) dumpQuorumSnapshot(path string) (bool, error) {
	index, term, ok := quorum.ParseSnapshotName(filepath.Base(path))
	if !ok {
		return false, fmt.Errorf("%s: not a snapshot file name (<20-digit end offset>-<10-digit epoch>%s)", path, quorum.SnapshotSuffix)
	}
	fmt.Fprintf(d.w, "Dumping %s\nSnapshot end offset: %d, epoch: %d\n", path, index, term)
	batches := *d
	batches.records = nil // the snapshot is printed whole, below
	tail, err := scanLog(path, 0, func(pos int64, h segment.BatchHeader, batch []byte, crcErr error) {
		ok = batches.printBatch(pos, h, batch, crcErr, crcErr) && ok
	})
	if err != nil {
		return false, err
	}
	if tail.size > 0 {
		ok = false
		fmt.Fprintf(d.w, "Found %d invalid bytes at the end of %s from position %d: %s\n", tail.size, path, tail.pos, tail.why)
	}
	if !d.deep {
		return ok, nil
	}
	snap, err := quorum.ReadSnapshot(path)
	if err != nil {
		fmt.Fprintf(d.w, "| cannot read the snapshot: %v\n", err)
		return false, nil
	}
	md := snap.GetMetadata()
	cs := md.GetConfState()
	fmt.Fprintf(d.w, "| snapshot index: %d term: %d voters: %v learners: %v", md.GetIndex(), md.GetTerm(), cs.GetVoters(), cs.GetLearners())
	if len(cs.GetVotersOutgoing()) > 0 || len(cs.GetLearnersNext()) > 0 {
		fmt.Fprintf(d.w, " votersOutgoing: %v learnersNext: %v autoLeave: %t", cs.GetVotersOutgoing(), cs.GetLearnersNext(), cs.GetAutoLeave())
	}
	fmt.Fprintf(d.w, " dataSize: %d\n", len(snap.GetData()))
	// The empty image is an empty snapshot.
	return ok && (len(snap.GetData()) == 0 || d.printMetadataRecords(snap.GetData())), nil
}

// dumpQuorumState prints a quorum-state file, JSON already, as it is.
func (d *dumper) dumpQuorumState(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(d.w, "Dumping %s\n%s\n", path, strings.TrimSuffix(string(b), "\n"))
	return true, nil
}
