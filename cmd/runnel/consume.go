package main

// runnel consume: Kafka's console consumer (kafka-console-consumer.sh),
// with its flags, its print.* properties (DefaultMessageFormatter) and a Go
// template as the alternative format.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func consumeCommand() *cobra.Command {
	var (
		bootstrap     string
		topic         string
		group         string
		partition     int32
		offset        string
		fromBeginning bool
		maxMessages   int
		timeoutMs     int
		properties    []string
		format        string
	)
	cmd := &cobra.Command{
		Use:   "consume --topic NAME",
		Short: "Print records of a topic, one value a line (kafka-console-consumer.sh)",
		Long: `Print the records of a topic as Kafka's console consumer does: by default
each record's value on a line, from the end of the log (new records only),
or from the start with --from-beginning. It runs until --max-messages
records were printed, no record came for --timeout-ms, or Ctrl-C; then it
says on stderr how many records it processed.

Without --group it reads every partition (or only --partition, from
--offset) and commits nothing. With --group it joins the consumer group,
starts where the group left off (--from-beginning applies only to
partitions the group never committed) and commits what it printed.

What is printed for each record (--property, as Kafka's):

  print.timestamp=true   CreateTime:<ms> or LogAppendTime:<ms>
  print.partition=true   Partition:<n>
  print.offset=true      Offset:<n>
  print.headers=true     key:value pairs joined by headers.separator (NO_HEADERS if none)
  print.key=true         the key (null.literal when null)
  print.value=false      leave the value out
  key.separator=SEP      between the fields above, default a tab
  line.separator=SEP     after each record, default a newline
  headers.separator=SEP  default ","
  null.literal=STRING    printed for a null key, value or header value, default "null"

or --format with a Go template over .Topic .Partition .Offset .Timestamp
(a time.Time) .TimestampType .Key .Value (strings, empty when null) and
.Headers (each .Key and .Value); line.separator follows each record.`,
		Example: `  runnel consume --topic test --from-beginning
  runnel consume --topic test --from-beginning --max-messages 10 --property print.key=true --property print.offset=true
  runnel consume --topic test --partition 0 --offset 42 --timeout-ms 5000
  runnel consume --topic test --group billing --from-beginning
  runnel consume --topic test --from-beginning --format '{{.Partition}}/{{.Offset}} {{.Key}}={{.Value}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := cmd.Flags()
			switch {
			case flags.Changed("offset") && partition < 0:
				return errors.New("--offset needs --partition (as in Kafka)")
			case flags.Changed("offset") && fromBeginning:
				return errors.New("--from-beginning and --offset cannot be used together")
			case group != "" && partition >= 0:
				return errors.New("--group and --partition cannot be used together")
			}
			start, err := parseStartOffset(offset, fromBeginning)
			if err != nil {
				return err
			}
			props, err := parseKeyValues("property", properties)
			if err != nil {
				return err
			}
			printer, err := newRecordPrinter(props, format)
			if err != nil {
				return err
			}

			var opts []kgo.Opt
			switch {
			case partition >= 0:
				opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: start}}))
			case group != "":
				// Marks: commit what was printed, not what was fetched.
				opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(start),
					kgo.ConsumerGroup(group), kgo.AutoCommitMarks())
			default:
				opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(start))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cl, err := connect(ctx, bootstrap, opts...)
			if err != nil {
				return stoppedWhileStarting(ctx, cmd.ErrOrStderr(), err)
			}
			defer cl.Close()
			checkCtx, cancel := context.WithTimeout(ctx, requestTimeout)
			n, err := topicPartitions(checkCtx, kadm.NewClient(cl), topic)
			cancel()
			if err != nil {
				return stoppedWhileStarting(ctx, cmd.ErrOrStderr(), err)
			}
			if int(partition) >= n {
				return fmt.Errorf("--partition %d: topic %q has %d partitions", partition, topic, n)
			}
			c := consumer{cl: cl, printer: printer, max: maxMessages, marks: group != ""}
			if timeoutMs > 0 {
				c.timeout = time.Duration(timeoutMs) * time.Millisecond
			}
			count, err := c.run(ctx, cmd.OutOrStdout())
			if group != "" {
				commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
				if cerr := cl.CommitMarkedOffsets(commitCtx); cerr != nil && err == nil {
					err = fmt.Errorf("commit offsets of group %q: %w", group, cerr)
				}
				cancel()
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Processed a total of %d messages\n", count)
			return err
		},
	}
	cmd.SetFlagErrorFunc(flagErrorHint)
	addBootstrapFlag(cmd, &bootstrap)
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "topic to read")
	f.StringVar(&group, "group", "", "consumer group to join (commits its progress)")
	f.Int32Var(&partition, "partition", -1, "read only this partition")
	f.StringVar(&offset, "offset", "latest", "with --partition: earliest, latest or an offset")
	f.BoolVar(&fromBeginning, "from-beginning", false, "start at the earliest record rather than the end")
	f.IntVar(&maxMessages, "max-messages", -1, "exit after printing this many records (-1: no limit)")
	f.IntVar(&timeoutMs, "timeout-ms", -1, "exit when no record came for this long (-1: wait forever)")
	f.StringArrayVar(&properties, "property", nil, "formatter property key=value, repeatable (see above)")
	f.StringVar(&format, "format", "", "Go template for each record (instead of the print.* properties)")
	cmd.MarkFlagRequired("topic")
	return cmd
}

// parseStartOffset is where reading starts: --offset (earliest, latest or a
// number), or the start with --from-beginning, else the end.
func parseStartOffset(offset string, fromBeginning bool) (kgo.Offset, error) {
	switch {
	case fromBeginning || offset == "earliest":
		return kgo.NewOffset().AtStart(), nil
	case offset == "latest":
		return kgo.NewOffset().AtEnd(), nil
	}
	n, err := strconv.ParseInt(offset, 10, 64)
	if err != nil || n < 0 {
		return kgo.Offset{}, fmt.Errorf("--offset %q: want earliest, latest or an offset >= 0", offset)
	}
	return kgo.NewOffset().At(n), nil
}

// consumer is the poll-and-print loop.
type consumer struct {
	cl      *kgo.Client
	printer *recordPrinter
	max     int           // records to print; <= 0: no limit
	timeout time.Duration // quiet time before giving up; 0: none
	marks   bool          // mark printed records for commit (group mode)
}

// stoppedWhileStarting returns err, the failure of a consumer's start, unless a signal stopped
// the consumer (ctx is done): then it ends as cleanly as a consumer stopped while it waits
// for records, as Kafka's console consumer does.
func stoppedWhileStarting(ctx context.Context, stderr io.Writer, err error) error {
	if ctx.Err() == nil {
		return err
	}
	fmt.Fprintln(stderr, "Processed a total of 0 messages")
	return nil
}

// run prints records until the limit, the quiet timeout or ctx's end
// (none of which is an error) and returns how many it printed.
func (c *consumer) run(ctx context.Context, out io.Writer) (int, error) {
	w := bufio.NewWriter(out)
	defer w.Flush()
	count := 0
	for c.max <= 0 || count < c.max {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if c.timeout > 0 {
			pollCtx, cancel = context.WithTimeout(ctx, c.timeout)
		}
		limit := -1
		if c.max > 0 {
			limit = c.max - count
		}
		fetches := c.cl.PollRecords(pollCtx, limit)
		cancel()
		var fatal error
		fetches.EachError(func(topic string, partition int32, err error) {
			switch {
			case fatal != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			case topic == "": // not a partition's error (joining the group failed)
				fatal = fmt.Errorf("consume: %w", err)
			default:
				fatal = fmt.Errorf("consume %s partition %d: %w", topic, partition, err)
			}
		})
		var werr error
		var printed []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			if werr == nil {
				if werr = c.printer.print(w, r); werr == nil {
					printed = append(printed, r)
				}
			}
		})
		if werr == nil {
			werr = w.Flush()
		}
		if werr == nil {
			count += len(printed)
			if c.marks {
				// Only what reached the output is committed.
				c.cl.MarkCommitRecords(printed...)
			}
		}
		switch {
		case werr != nil:
			return count, werr
		case fatal != nil:
			return count, fatal
		case ctx.Err() != nil || pollCtx.Err() != nil && fetches.NumRecords() == 0 || fetches.IsClientClosed():
			return count, nil
		}
	}
	return count, nil
}

// recordPrinter writes a record as Kafka's DefaultMessageFormatter does, or
// through a template.
type recordPrinter struct {
	printTimestamp, printPartition, printOffset, printHeaders, printKey, printValue bool

	keySeparator, lineSeparator, headersSeparator, nullLiteral string

	tmpl *template.Template
}

// templateRecord is what --format templates see.
type templateRecord struct {
	Topic         string
	Partition     int32
	Offset        int64
	Timestamp     time.Time
	TimestampType string
	Key, Value    string
	Headers       []templateHeader
}

type templateHeader struct{ Key, Value string }

// newRecordPrinter builds a printer from --property values and --format;
// unknown properties are an error.
func newRecordPrinter(props map[string]string, format string) (*recordPrinter, error) {
	p := &recordPrinter{printValue: true, keySeparator: "\t", lineSeparator: "\n", headersSeparator: ",", nullLiteral: "null"}
	bools := map[string]*bool{
		"print.timestamp": &p.printTimestamp, "print.partition": &p.printPartition, "print.offset": &p.printOffset,
		"print.headers": &p.printHeaders, "print.key": &p.printKey, "print.value": &p.printValue,
	}
	strs := map[string]*string{
		"key.separator": &p.keySeparator, "line.separator": &p.lineSeparator,
		"headers.separator": &p.headersSeparator, "null.literal": &p.nullLiteral,
	}
	for k, v := range props {
		if b, ok := bools[k]; ok {
			if format != "" {
				return nil, fmt.Errorf("--property %s and --format cannot be used together", k)
			}
			*b = strings.EqualFold(strings.TrimSpace(v), "true")
		} else if s, ok := strs[k]; ok {
			*s = v
		} else {
			return nil, fmt.Errorf("--property %s: unknown (print.timestamp, print.partition, print.offset, print.headers, print.key, print.value, key.separator, line.separator, headers.separator, null.literal)", k)
		}
	}
	if format != "" {
		t, err := template.New("format").Option("missingkey=error").Parse(format)
		if err != nil {
			return nil, fmt.Errorf("--format: %w", err)
		}
		p.tmpl = t
	}
	return p, nil
}

// print writes r and the line separator.
func (p *recordPrinter) print(w *bufio.Writer, r *kgo.Record) error {
	if p.tmpl != nil {
		if err := p.tmpl.Execute(w, toTemplateRecord(r)); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		_, err := w.WriteString(p.lineSeparator)
		return err
	}
	fields := make([]string, 0, 6)
	if p.printTimestamp {
		if t := timestampType(r); t != "" {
			fields = append(fields, t+":"+strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		} else {
			fields = append(fields, "NO_TIMESTAMP")
		}
	}
	if p.printPartition {
		fields = append(fields, "Partition:"+strconv.Itoa(int(r.Partition)))
	}
	if p.printOffset {
		fields = append(fields, "Offset:"+strconv.FormatInt(r.Offset, 10))
	}
	if p.printHeaders {
		if len(r.Headers) == 0 {
			fields = append(fields, "NO_HEADERS")
		} else {
			hs := make([]string, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = h.Key + ":" + p.nullable(h.Value)
			}
			fields = append(fields, strings.Join(hs, p.headersSeparator))
		}
	}
	if p.printKey {
		fields = append(fields, p.nullable(r.Key))
	}
	if p.printValue {
		fields = append(fields, p.nullable(r.Value))
	}
	_, err := w.WriteString(strings.Join(fields, p.keySeparator) + p.lineSeparator)
	return err
}

func (p *recordPrinter) nullable(b []byte) string {
	if b == nil {
		return p.nullLiteral
	}
	return string(b)
}

// timestampType is Kafka's name of r's timestamp type, "" when it has none.
func timestampType(r *kgo.Record) string {
	switch r.Attrs.TimestampType() {
	case 0:
		return "CreateTime"
	case 1:
		return "LogAppendTime"
	}
	return ""
}

func toTemplateRecord(r *kgo.Record) templateRecord {
	t := templateRecord{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
		TimestampType: timestampType(r), Key: string(r.Key), Value: string(r.Value),
	}
	for _, h := range r.Headers {
		t.Headers = append(t.Headers, templateHeader{Key: h.Key, Value: string(h.Value)})
	}
	return t
}
