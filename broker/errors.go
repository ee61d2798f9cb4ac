package broker

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/segment"
)

// Errors, in one place: how storage errors become Kafka error codes, and
// the broker's own sentinels.
//
// Handlers answer with kerr codes (errCode(err)); the storage layer returns
// package-prefixed sentinels wrapped with context, matched here with
// errors.Is. An error that is not recognised maps to KAFKA_STORAGE_ERROR
// when it is an I/O failure and UNKNOWN_SERVER_ERROR otherwise; the caller
// logs it, since the client only sees the code.

// errCode maps an error from segment, io/flush or the broker itself to the
// Kafka error code a response carries. nil maps to 0 (NONE).
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	switch {
	case errors.Is(err, segment.ErrCorruptLog): // damage found reading the log, as Kafka's CorruptRecordException
		return kerr.CorruptMessage.Code
	case errors.Is(err, segment.ErrStorageFailed): // the log dir is offline
		return kerr.KafkaStorageError.Code
	case errors.Is(err, segment.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, segment.ErrShortBatch),
		errors.Is(err, segment.ErrInvalidBatch),
		errors.Is(err, segment.ErrUnsupportedCodec):
		return kerr.InvalidRecord.Code
	case errors.Is(err, segment.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, segment.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, segment.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, segment.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, segment.ErrRecordTooLarge):
		return kerr.RecordListTooLarge.Code
	case errors.Is(err, segment.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, segment.ErrClosed): // deleted while a request used it
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, errShuttingDown):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, segment.ErrNoSpace): // retriable: producing resumes once space is freed
		return kerr.KafkaStorageError.Code
	case isStorageError(err):
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownServerError.Code
}

// loggedElsewhere reports whether err is a storage failure of an offline
// log dir (logged once when the dir failed) or a refused append on a full
// disk (logged once per change of the dir's space state): a request that
// meets it is not worth a log line of its own.
func loggedElsewhere(err error) bool {
	return errors.Is(err, segment.ErrStorageFailed) || errors.Is(err, segment.ErrNoSpace)
}

// isStorageError reports whether err is a failure of the disk rather than
// of the request: the partition cannot serve until an operator looks.
func isStorageError(err error) bool {
	var errno syscall.Errno
	var pathErr *os.PathError
	return errors.As(err, &errno) || errors.As(err, &pathErr)
}

// Broker sentinels.
var (
	// errShuttingDown: the broker is closing and will not start new work.
	errShuttingDown = errors.New("broker: shutting down")
	// errFrameTooLarge: a request frame's size exceeds
	// socket.request.max.bytes (or is negative); the connection is closed.
	errFrameTooLarge = errors.New("broker: request frame too large")
	// errBadRequest: a request frame does not decode (truncated header,
	// unknown api key, bytes that kmsg rejects); the connection is closed.
	errBadRequest = errors.New("broker: malformed request")
)

// kafkaError is a Kafka error code with a message for the response's
// ErrorMessage field; errors.Is and errCode see the code.
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.code }

// kafkaErr makes a kafkaError with a formatted message.
func kafkaErr(code *kerr.Error, format string, args ...any) error {
	return &kafkaError{code: code, msg: fmt.Sprintf(format, args...)}
}

// errMessage is the ErrorMessage for a response: the message of a
// kafkaError, nil for a bare code (clients show the code's own text), and
// the error's text for anything else.
func errMessage(err error) *string {
	var ke *kafkaError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return &ke.msg
	}
	var code *kerr.Error
	if errors.As(err, &code) && error(code) == err {
		return nil
	}
	msg := err.Error()
	return &msg
}
