package broker

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/segment"
)

func TestErrCode(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("segment: 00000000000000000042.log at 4096: %w", err) }
	tests := []struct {
		err  error
		want *kerr.Error
	}{
		{wrap(segment.ErrCorruptBatch), kerr.CorruptMessage},
		{wrap(segment.ErrShortBatch), kerr.InvalidRecord},
		{wrap(segment.ErrInvalidBatch), kerr.InvalidRecord},
		{wrap(segment.ErrUnsupportedMagic), kerr.UnsupportedForMessageFormat},
		{wrap(segment.ErrOutOfOrderSequence), kerr.OutOfOrderSequenceNumber},
		{wrap(segment.ErrInvalidProducerEpoch), kerr.InvalidProducerEpoch},
		{wrap(segment.ErrOffsetOutOfRange), kerr.OffsetOutOfRange},
		{wrap(segment.ErrRecordTooLarge), kerr.RecordListTooLarge},
		{wrap(segment.ErrClosed), kerr.UnknownTopicOrPartition},
		{kafkaErr(kerr.InvalidConfig, "bad"), kerr.InvalidConfig},
		{kerr.TopicAlreadyExists, kerr.TopicAlreadyExists},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.EIO}, kerr.KafkaStorageError},
		{wrap(syscall.ENOSPC), kerr.KafkaStorageError},
		{errors.New("something else"), kerr.UnknownServerError},
	}
	for _, tt := range tests {
		if got := errCode(tt.err); got != tt.want.Code {
			t.Errorf("errCode(%v) = %v, want %v", tt.err, kerr.ErrorForCode(got), tt.want)
		}
	}
	if errCode(nil) != 0 {
		t.Error("errCode(nil) != 0")
	}
}

func TestErrMessage(t *testing.T) {
	if m := errMessage(kafkaErr(kerr.InvalidConfig, "retention.ms: want an integer")); m == nil || *m != "retention.ms: want an integer" {
		t.Errorf("kafkaErr message: %v", m)
	}
	if m := errMessage(kerr.UnknownTopicOrPartition); m != nil {
		t.Errorf("bare code message: %q", *m)
	}
	if m := errMessage(nil); m != nil {
		t.Errorf("nil message: %q", *m)
	}
}
