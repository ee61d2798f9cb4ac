package main

// runnel produce: Kafka's console producer (kafka-console-producer.sh).
// One record a line; the line reader's properties (parse.key, key.separator,
// parse.headers, ...) are Kafka's LineMessageReader's.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// deliveryTimeout bounds how long a record may wait to be acknowledged
// (Kafka's delivery.timeout.ms, shorter: a console tool should not sit
// silent for two minutes).
const deliveryTimeout = 30 * time.Second

func produceCommand() *cobra.Command {
	var (
		bootstrap   string
		topic       string
		acks        string
		compression string
		partition   int32
		file        string
		properties  []string
	)
	cmd := &cobra.Command{
		Use:   "produce --topic NAME",
		Short: "Send records read from stdin (or a file), one a line (kafka-console-producer.sh)",
		Long: `Read lines from stdin (or --file) and send each as a record's value, as
Kafka's console producer does. Properties of the line reader (--property):

  parse.key=true          split each line into key and value at key.separator
  key.separator=SEP       default a tab
  parse.headers=true      lines start with headers, then headers.delimiter
  headers.delimiter=SEP   default a tab
  headers.separator=SEP   between headers, default ","
  headers.key.separator=SEP  between a header's key and value, default ":"
  null.marker=STRING      a key, value or header value equal to it is sent as null
  ignore.error=true       a line without a separator is a value (or header) rather than an error

The topic is created by the broker if it does not exist and the broker
allows it (auto.create.topics.enable). Records not acknowledged within
30 s, or a broker that cannot be reached within 10 s, make the command
exit with status 1 and say why. --acks and --compression are accepted as
short names of --request-required-acks and --compression-codec.`,
		Example: `  printf 'hello\nworld\n' | runnel produce --topic test
  runnel produce --topic test --property parse.key=true --property key.separator=: < keyed.txt
  runnel produce --topic test --file values.txt --compression-codec zstd --request-required-acks 1
  printf 'trace:abc\tk1\tv1\n' | runnel produce --topic test --property parse.headers=true --property parse.key=true`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			props, err := parseKeyValues("property", properties)
			if err != nil {
				return err
			}
			parser, err := newLineParser(props)
			if err != nil {
				return err
			}
			opts, err := producerOptions(acks, compression)
			if err != nil {
				return err
			}
			opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
				kgo.RecordDeliveryTimeout(deliveryTimeout))
			if partition >= 0 {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			in := cmd.InOrStdin()
			prompt := isTerminal(in)
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in, prompt = f, false
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cl, err := connect(ctx, bootstrap, opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			if partition >= 0 {
				checkCtx, cancel := context.WithTimeout(ctx, requestTimeout)
				n, err := topicPartitions(checkCtx, kadm.NewClient(cl), topic)
				cancel()
				if err != nil {
					return err
				}
				if int(partition) >= n {
					return fmt.Errorf("--partition %d: topic %q has %d partitions", partition, topic, n)
				}
			}
			var promptTo io.Writer
			if prompt {
				promptTo = cmd.OutOrStdout()
			}
			return produceLines(ctx, cl, in, promptTo, parser, partition)
		},
	}
	cmd.SetFlagErrorFunc(flagErrorHint)
	addBootstrapFlag(cmd, &bootstrap)
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "topic to send to")
	f.StringVar(&acks, "request-required-acks", "all", "acknowledgements to wait for: all (-1), 1 or 0")
	f.StringVar(&compression, "compression-codec", "none", "none, gzip, snappy, lz4 or zstd")
	f.Int32Var(&partition, "partition", -1, "send every record to this partition (default: by key hash, or spread when keyless)")
	f.StringVar(&file, "file", "", "read lines from this file instead of stdin")
	f.StringArrayVar(&properties, "property", nil, "line reader property key=value, repeatable (see above)")
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "acks":
			name = "request-required-acks"
		case "compression":
			name = "compression-codec"
		}
		return pflag.NormalizedName(name)
	})
	cmd.MarkFlagRequired("topic")
	return cmd
}

// producerOptions turns --request-required-acks and --compression-codec into
// client options. Idempotent writes (kgo's default) need acks=all.
func producerOptions(acks, compression string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch strings.ToLower(acks) {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("--request-required-acks %q: want all, -1, 1 or 0", acks)
	}
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	codec, ok := codecs[strings.ToLower(compression)]
	if !ok {
		return nil, fmt.Errorf("--compression-codec %q: want none, gzip, snappy, lz4 or zstd", compression)
	}
	return append(opts, kgo.ProducerBatchCompression(codec)), nil
}

// produceLines sends a record for each line of in until its end (or until
// ctx is cancelled), waits for every record to be acknowledged and reports
// those that were not. A line the parser rejects stops the command, as in
// Kafka. With promptTo set (stdin is a terminal) it prints Kafka's ">"
// prompt before each line.
func produceLines(ctx context.Context, cl *kgo.Client, in io.Reader, promptTo io.Writer, parser *lineParser, partition int32) error {
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(in, 64<<10)
		for {
			if promptTo != nil {
				fmt.Fprint(promptTo, ">")
			}
			line, err := br.ReadString('\n')
			if len(line) > 0 {
				line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- err
				}
				return
			}
		}
	}()

	var (
		mu       sync.Mutex
		failed   int
		firstErr error
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if failed++; firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	// Records already read are delivered even after an interrupt, as
	// Kafka's producer does on close: they get a context that is not
	// cancelled, and deliveryTimeout bounds them.
	sendCtx := context.WithoutCancel(ctx)
	var sent int
	var parseErr error
	for line := range lines {
		r, err := parser.parse(line, sent+1)
		if err != nil {
			parseErr = err
			break
		}
		if partition >= 0 {
			r.Partition = partition
		}
		cl.Produce(sendCtx, r, done)
		sent++
	}
	if err := cl.Flush(sendCtx); err != nil {
		return err
	}
	select {
	case err := <-readErr:
		return fmt.Errorf("reading input: %w", err)
	default:
	}
	// Flush returned after every record's callback ran.
	mu.Lock()
	defer mu.Unlock()
	if failed > 0 {
		return fmt.Errorf("%d of %d records were not delivered: %w", failed, sent, firstErr)
	}
	return parseErr
}

// lineParser is Kafka's LineMessageReader: how a line becomes a record.
type lineParser struct {
	parseKey            bool
	keySeparator        string
	parseHeaders        bool
	headersDelimiter    string
	headersSeparator    string
	headersKeySeparator string
	nullMarker          string // "" means none
	ignoreError         bool
}

// newLineParser builds a parser from --property values; unknown names are
// an error (a misspelt property would otherwise be ignored silently).
func newLineParser(props map[string]string) (*lineParser, error) {
	p := &lineParser{keySeparator: "\t", headersDelimiter: "\t", headersSeparator: ",", headersKeySeparator: ":"}
	known := []string{"parse.key", "key.separator", "parse.headers", "headers.delimiter",
		"headers.separator", "headers.key.separator", "null.marker", "ignore.error"}
	for k, v := range props {
		switch k {
		case "parse.key":
			p.parseKey = strings.EqualFold(strings.TrimSpace(v), "true")
		case "parse.headers":
			p.parseHeaders = strings.EqualFold(strings.TrimSpace(v), "true")
		case "ignore.error":
			p.ignoreError = strings.EqualFold(strings.TrimSpace(v), "true")
		case "null.marker":
			p.nullMarker = v
		case "key.separator", "headers.delimiter", "headers.separator", "headers.key.separator":
			if v == "" {
				return nil, fmt.Errorf("--property %s: must not be empty", k)
			}
			switch k {
			case "key.separator":
				p.keySeparator = v
			case "headers.delimiter":
				p.headersDelimiter = v
			case "headers.separator":
				p.headersSeparator = v
			default:
				p.headersKeySeparator = v
			}
		default:
			return nil, fmt.Errorf("--property %s: unknown (known: %s)", k, strings.Join(known, ", "))
		}
	}
	if p.nullMarker != "" && slices.Contains([]string{p.keySeparator, p.headersDelimiter, p.headersSeparator, p.headersKeySeparator}, p.nullMarker) {
		return nil, fmt.Errorf("--property null.marker=%s: must differ from the separators", p.nullMarker)
	}
	return p, nil
}

// parse makes the record of line number lineNo: [headers delimiter] [key
// separator] value, each part only when its parse.* property is set.
func (p *lineParser) parse(line string, lineNo int) (*kgo.Record, error) {
	rest := line
	var headers *string
	if p.parseHeaders {
		h, after, ok := strings.Cut(rest, p.headersDelimiter)
		switch {
		case ok:
			headers, rest = &h, after
		case !p.ignoreError:
			return nil, fmt.Errorf("no headers delimiter found on line number %d: %q", lineNo, line)
		}
	}
	r := &kgo.Record{}
	if p.parseKey {
		k, after, ok := strings.Cut(rest, p.keySeparator)
		switch {
		case ok:
			r.Key, rest = p.bytes(k), after
		case !p.ignoreError:
			return nil, fmt.Errorf("no key separator found on line number %d: %q", lineNo, line)
		}
	}
	r.Value = p.bytes(rest)
	if r.Value == nil && p.nullMarker == "" {
		r.Value = []byte{}
	}
	if headers != nil && *headers != p.nullMarker {
		for pair := range strings.SplitSeq(*headers, p.headersSeparator) {
			k, v, ok := strings.Cut(pair, p.headersKeySeparator)
			switch {
			case !ok && !p.ignoreError:
				return nil, fmt.Errorf("no header key separator found in pair %q on line number %d", pair, lineNo)
			case !ok:
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: pair})
				continue
			case p.nullMarker != "" && k == p.nullMarker:
				return nil, fmt.Errorf("header keys must not equal the null marker %q on line number %d", p.nullMarker, lineNo)
			}
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: p.bytes(v)})
		}
	}
	return r, nil
}

// bytes is s as a key, value or header value: nil for the null marker.
func (p *lineParser) bytes(s string) []byte {
	if p.nullMarker != "" && s == p.nullMarker {
		return nil
	}
	return []byte(s)
}

// isTerminal reports whether r is a terminal (then the producer prompts).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
