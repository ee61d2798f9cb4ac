package segment

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"runnel/io/disk"
)

// Kafka's small text files, read and written in Kafka's formats so that a
// data directory moves between Kafka and Runnel. Every write replaces the
// file atomically (temporary file, fsync, rename, fsync of the directory);
// every reader rejects a malformed file with ErrMalformedCheckpoint naming
// the file and line.
//
// recovery-point-offset-checkpoint, log-start-offset-checkpoint (log dir):
//
//	0                      version
//	2                      number of entries
//	orders 0 1234          topic partition offset
//	orders 1 1180
//
// leader-epoch-checkpoint (partition dir): the same with "epoch startOffset"
// entries. partition.metadata (partition dir):
//
//	version: 0
//	topic_id: 9ZpSHSx7QGK4QtHyEy5N2w
//
// meta.properties (log dir): a Java properties file (node.id, cluster.id,
// version, directory.id).

// checkpointVersion is the only version of Kafka's checkpoint and
// partition.metadata formats.
const checkpointVersion = 0

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// DirName is the partition's directory name in a log dir, "<topic>-<partition>".
func (tp TopicPartition) DirName() string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

// ParsePartitionDir parses a partition directory name, "<topic>-<partition>"
// split at the last '-' (topics may contain '-'). It refuses names that are
// not a legal topic and a partition number written as DirName writes it, so
// Kafka's "-delete", "-future" and "-stray" directories and anything else in
// a log dir are not partitions.
func ParsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return TopicPartition{}, false
	}
	topic, number := name[:i], name[i+1:]
	p, err := strconv.ParseInt(number, 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != number || !validTopic(topic) {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: topic, Partition: int32(p)}, true
}

// validTopic reports whether s is a legal Kafka topic name: 1 to 249 of
// [a-zA-Z0-9._-], and neither "." nor "..".
func validTopic(s string) bool {
	if len(s) == 0 || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ReadOffsetCheckpoint reads a recovery-point-offset-checkpoint or
// log-start-offset-checkpoint file. A missing file is an empty map.
func ReadOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	m := make(map[TopicPartition]int64)
	err := readCheckpoint(path, 3, func(fields []string) error {
		tp := TopicPartition{Topic: fields[0]}
		if !validTopic(tp.Topic) {
			return fmt.Errorf("illegal topic name %q", tp.Topic)
		}
		p, err := strconv.ParseInt(fields[1], 10, 32)
		if err != nil || p < 0 {
			return fmt.Errorf("bad partition %q", fields[1])
		}
		tp.Partition = int32(p)
		offset, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return fmt.Errorf("bad offset %q", fields[2])
		}
		if _, dup := m[tp]; dup {
			return fmt.Errorf("partition %s listed twice", tp.DirName())
		}
		m[tp] = offset
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	return m, err
}

// WriteOffsetCheckpoint replaces path with the offsets of m, one line a
// partition, sorted by topic and partition.
func WriteOffsetCheckpoint(path string, m map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(m))
	for tp := range m {
		if !validTopic(tp.Topic) || tp.Partition < 0 {
			return fmt.Errorf("segment: write %s: illegal partition %q %d", path, tp.Topic, tp.Partition)
		}
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return writeCheckpoint(disk.OS, path, len(tps), func(b []byte, i int) []byte {
		return fmt.Appendf(b, "%s %d %d\n", tps[i].Topic, tps[i].Partition, m[tps[i]])
	})
}

// EpochEntry is a line of leader-epoch-checkpoint: the first offset written
// by a leader of Epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// ReadLeaderEpochCheckpoint reads a leader-epoch-checkpoint file, entries in
// file order. A missing file has no entries.
func ReadLeaderEpochCheckpoint(path string) ([]EpochEntry, error) {
	var entries []EpochEntry
	err := readCheckpoint(path, 2, func(fields []string) error {
		epoch, err := strconv.ParseInt(fields[0], 10, 32)
		if err != nil {
			return fmt.Errorf("bad epoch %q", fields[0])
		}
		offset, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return fmt.Errorf("bad start offset %q", fields[1])
		}
		entries = append(entries, EpochEntry{Epoch: int32(epoch), StartOffset: offset})
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

// WriteLeaderEpochCheckpoint replaces path with the entries, in order.
func WriteLeaderEpochCheckpoint(path string, entries []EpochEntry) error {
	return writeLeaderEpochCheckpoint(disk.OS, path, entries)
}

// writeLeaderEpochCheckpoint is WriteLeaderEpochCheckpoint through fs.
func writeLeaderEpochCheckpoint(fsys disk.FS, path string, entries []EpochEntry) error {
	return writeCheckpoint(fsys, path, len(entries), func(b []byte, i int) []byte {
		return fmt.Appendf(b, "%d %d\n", entries[i].Epoch, entries[i].StartOffset)
	})
}

// readCheckpoint reads Kafka's checkpoint format: a version line (0), a count
// line, then count lines of `fields` whitespace-separated fields, each passed
// to entry, and nothing after. Errors from reading the file are returned as
// they are (so fs.ErrNotExist shows).
func readCheckpoint(path string, fields int, entry func(fields []string) error) error {
	r, err := newLineReader(path)
	if err != nil {
		return err
	}
	if line, ok := r.next(); !ok || line != strconv.Itoa(checkpointVersion) {
		return r.errorf("want version %d, got %q", checkpointVersion, line)
	}
	line, ok := r.next()
	count, err := strconv.Atoi(line)
	if !ok || err != nil || count < 0 {
		return r.errorf("want the entry count, got %q", line)
	}
	for i := range count {
		line, ok := r.next()
		if !ok {
			return r.errorf("file ends after %d of %d entries", i, count)
		}
		f := strings.Fields(line)
		if len(f) != fields {
			return r.errorf("want %d fields, got %q", fields, line)
		}
		if err := entry(f); err != nil {
			return r.errorf("%v", err)
		}
	}
	if line, ok := r.next(); ok {
		return r.errorf("more than the %d entries announced: %q", count, line)
	}
	return nil
}

// writeCheckpoint atomically writes Kafka's checkpoint format with count
// entries, appendEntry(b, i) appending entry i and its newline.
func writeCheckpoint(fsys disk.FS, path string, count int, appendEntry func(b []byte, i int) []byte) error {
	b := fmt.Appendf(nil, "%d\n%d\n", checkpointVersion, count)
	for i := range count {
		b = appendEntry(b, i)
	}
	return disk.WriteFileAtomicFS(fsys, path, b, 0o644)
}

// lineReader hands out the lines of a small text file and makes errors that
// name the file and the line last handed out.
type lineReader struct {
	path  string
	lines [][]byte
	n     int // lines handed out
}

func newLineReader(path string) (*lineReader, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	if len(data) > 0 && data[len(data)-1] == '\n' {
		data = data[:len(data)-1] // a final newline ends the last line, it does not start one
	}
	r := &lineReader{path: path}
	if len(data) > 0 {
		r.lines = bytes.Split(data, []byte("\n"))
	}
	return r, nil
}

// next returns the next line without its line ending ("\n" or "\r\n").
func (r *lineReader) next() (string, bool) {
	if r.n == len(r.lines) {
		r.n++ // an error now points past the last line
		return "", false
	}
	line := r.lines[r.n]
	r.n++
	return string(bytes.TrimSuffix(line, []byte("\r"))), true
}

func (r *lineReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s line %d: %s", ErrMalformedCheckpoint, r.path, r.n, fmt.Sprintf(format, args...))
}

// ReadPartitionMetadata reads a partition.metadata file and returns its
// topic id. A missing file is an error wrapping fs.ErrNotExist.
func ReadPartitionMetadata(path string) (topicID [16]byte, err error) {
	r, err := newLineReader(path)
	if err != nil {
		return topicID, err
	}
	line, _ := r.next()
	if f := strings.Fields(line); len(f) != 2 || f[0] != "version:" || f[1] != strconv.Itoa(checkpointVersion) {
		return topicID, r.errorf("want \"version: %d\", got %q", checkpointVersion, line)
	}
	line, _ = r.next()
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "topic_id:" {
		return topicID, r.errorf("want \"topic_id: <id>\", got %q", line)
	}
	id, err := base64.RawURLEncoding.DecodeString(f[1])
	if err != nil || len(id) != len(topicID) {
		return topicID, r.errorf("topic id %q is not 16 bytes in unpadded base64url", f[1])
	}
	copy(topicID[:], id)
	if topicID == ([16]byte{}) {
		return topicID, r.errorf("topic id is the zero UUID")
	}
	if line, ok := r.next(); ok {
		return topicID, r.errorf("unexpected line %q", line)
	}
	return topicID, nil
}

// WritePartitionMetadata replaces path with a partition.metadata file naming
// topicID, written as Kafka's Uuid.toString writes it (unpadded base64url).
func WritePartitionMetadata(path string, topicID [16]byte) error {
	b := fmt.Appendf(nil, "version: %d\ntopic_id: %s\n", checkpointVersion, base64.RawURLEncoding.EncodeToString(topicID[:]))
	return disk.WriteFileAtomic(path, b, 0o644)
}

// ReadProperties reads a Java properties file such as meta.properties:
// "key=value", "key: value" or "key value" lines, '#' and '!' comments,
// backslash escapes (\t \n \r \f \uXXXX, any other character as itself) and
// lines continued by a final backslash. A later key replaces an earlier one,
// as in Java. A missing file is an error wrapping fs.ErrNotExist.
func ReadProperties(path string) (map[string]string, error) {
	r, err := newLineReader(path)
	if err != nil {
		return nil, err
	}
	p := make(map[string]string)
	for {
		line, ok := r.next()
		if !ok {
			return p, nil
		}
		line = strings.TrimLeft(line, " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continued(line) {
			next, ok := r.next()
			line = line[:len(line)-1] + strings.TrimLeft(next, " \t\f")
			if !ok {
				break
			}
		}
		key, value, err := splitProperty(line)
		if err != nil {
			return nil, r.errorf("%v", err)
		}
		p[key] = value
	}
}

// continued reports whether line ends in an odd number of backslashes.
func continued(line string) bool {
	n := len(line) - len(strings.TrimRight(line, `\`))
	return n%2 == 1
}

// splitProperty splits a logical properties line into its unescaped key and
// value: the key ends at the first unescaped '=', ':' or whitespace.
func splitProperty(line string) (key, value string, err error) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if strings.IndexByte("=: \t\f", line[i]) >= 0 {
			end = i
			break
		}
	}
	rest := strings.TrimLeft(line[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	if key, err = unescapeProperty(line[:end]); err != nil {
		return "", "", err
	}
	value, err = unescapeProperty(rest)
	return key, value, err
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	var units []uint16 // \uXXXX escapes are UTF-16 code units
	flush := func() {
		b.WriteString(string(utf16.Decode(units)))
		units = units[:0]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			flush()
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \uxxxx escape in %q`, s)
			}
			u, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf(`malformed \uxxxx escape in %q`, s)
			}
			units = append(units, uint16(u))
			i += 4
			continue
		case 't':
			c = '\t'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 'f':
			c = '\f'
		}
		flush()
		b.WriteByte(c)
	}
	flush()
	return b.String(), nil
}

// WriteProperties replaces path with the properties p, one "key=value" line
// each, sorted by key, escaped as Java's Properties.store escapes them.
func WriteProperties(path string, p map[string]string) error {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(p)) {
		b = appendPropertyEscaped(b, k, true)
		b = append(b, '=')
		b = appendPropertyEscaped(b, p[k], false)
		b = append(b, '\n')
	}
	return disk.WriteFileAtomic(path, b, 0o644)
}

func appendPropertyEscaped(b []byte, s string, isKey bool) []byte {
	for i, r := range s {
		switch {
		case r == ' ' && (isKey || i == 0):
			b = append(b, `\ `...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\f':
			b = append(b, `\f`...)
		case strings.ContainsRune(`\=:#!`, r):
			b = append(b, '\\', byte(r))
		case r < 0x20 || r > 0x7e:
			for _, u := range utf16.Encode([]rune{r}) {
				b = fmt.Appendf(b, `\u%04X`, u)
			}
		default:
			b = append(b, byte(r))
		}
	}
	return b
}
