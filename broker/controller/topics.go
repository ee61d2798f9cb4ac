package controller

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// defaultMaxPartitions is Config.MaxPartitionsPerTopic's default, the
// broker's runnel.max.partitions.per.topic.
const defaultMaxPartitions = 10000

// operate runs one operation of n items (topics, resources) as the active
// controller: build validates item i against the image as the items
// before it left it and returns its records; the records of every item
// that passed are committed as one entry (unless validateOnly) and the
// result per item returned. Without the active controller's role every
// item fails with NOT_CONTROLLER; a failed commit fails every item that
// had passed with its error.
func (c *Controller) operate(ctx context.Context, n int, validateOnly bool, build func(img *metadata.Image, i int) ([]metadata.Record, error)) []error {
	errs := make([]error, n)
	if err := c.begin(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	defer c.mu.Unlock()
	img := c.holder.Load()
	var all []metadata.Record
	var passed []int
	for i := range n {
		records, err := build(img, i)
		if err == nil && len(records) > 0 {
			next, applyErr := img.ApplyAll(records)
			if applyErr != nil {
				c.logger.Error("controller: an operation built records that do not apply", "err", applyErr)
				err = placementErr(kerr.UnknownServerError, "%v", applyErr)
			} else {
				img = next
				all = append(all, records...)
				passed = append(passed, i)
			}
		}
		errs[i] = err
	}
	all = append(all, completeReassignments(img, c.unavailable(img), all)...)
	if validateOnly {
		return errs
	}
	if err := c.commit(ctx, all); err != nil {
		for _, i := range passed {
			errs[i] = err
		}
	}
	return errs
}

// errorCode returns the Kafka error code and message of an operation's
// error for a response: 0 and nil for success.
func errorCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code.Code, kmsg.StringPtr(pe.Message)
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code, nil
	}
	return kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
}

// placementBrokers lists the image's registered brokers as Place sees
// them, with the replicas and preferred leaderships each holds now.
func placementBrokers(img *metadata.Image) []Broker {
	registered := img.Brokers()
	out := make([]Broker, len(registered))
	index := make(map[int32]int, len(registered))
	for i, b := range registered {
		out[i] = Broker{ID: b.NodeID, Rack: b.Rack, Fenced: b.Fenced}
		index[b.NodeID] = i
	}
	for t := range img.Topics() {
		for p := range t.Partitions() {
			for k, r := range p.Replicas {
				if i, ok := index[r]; ok {
					out[i].Replicas++
					if k == 0 {
						out[i].Leaders++
					}
				}
			}
		}
	}
	return out
}

// addLoad counts new replica lists into brokers' loads, as
// placementBrokers would count them once in the image: so one request
// placing many topics scans the image once.
func addLoad(brokers []Broker, replicas [][]int32) {
	for _, rs := range replicas {
		for k, r := range rs {
			for i := range brokers {
				if brokers[i].ID == r {
					brokers[i].Replicas++
					if k == 0 {
						brokers[i].Leaders++
					}
				}
			}
		}
	}
}

// fencedIn returns whether a broker is fenced (or not registered) in img.
func fencedIn(img *metadata.Image) func(id int32) bool {
	return func(id int32) bool {
		b, ok := img.Broker(id)
		return !ok || b.Fenced
	}
}

// partitionRecords returns the records of new partitions first, first+1,
// ... of topic id with the given replica lists: the ISR is the available
// replicas (unfenced, not in controlled shutdown; the unfenced ones when
// none is, so that the partition gets a leader when its broker is back)
// and the leader the first available one, at epoch 0. Called with c.mu
// held.
func (c *Controller) partitionRecords(img *metadata.Image, id metadata.UUID, first int32, replicas [][]int32) []metadata.Record {
	unavailable := c.unavailable(img)
	out := make([]metadata.Record, len(replicas))
	for i, rs := range replicas {
		isr := slices.DeleteFunc(slices.Clone(rs), unavailable)
		if len(isr) == 0 {
			isr = slices.DeleteFunc(slices.Clone(rs), fencedIn(img))
		}
		out[i] = &metadata.PartitionRecord{TopicID: id, Partition: first + int32(i), Replicas: rs, ISR: isr,
			Leader: ElectLeader(rs, isr, unavailable)}
	}
	return out
}

// maxPartitions is the cap on a topic's partitions.
func (c *Controller) maxPartitions() int32 {
	if c.cfg.MaxPartitionsPerTopic > 0 {
		return c.cfg.MaxPartitionsPerTopic
	}
	return defaultMaxPartitions
}

// CreateTopics creates topics as Kafka's controller does
// (ReplicationControlManager.createTopics): per topic, a name given twice
// in the request is INVALID_REQUEST, a name the broker's rules refuse or
// that collides with an existing one ('.' and '_' alike) is
// INVALID_TOPIC_EXCEPTION, an existing name TOPIC_ALREADY_EXISTS, a bad
// count INVALID_PARTITIONS, a factor the unfenced brokers cannot hold
// INVALID_REPLICATION_FACTOR, a bad explicit assignment
// INVALID_REPLICA_ASSIGNMENT, a bad or null config INVALID_CONFIG. -1 takes
// the default count and factor. Replicas are placed with Place over the
// image's brokers and their current load; topic ids are random. The answer
// comes once the topics are committed and applied here, with the topic id,
// partition count and replication factor (the response's Configs are left
// to the broker, which knows the defaults).
func (c *Controller) CreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewCreateTopicsResponseTopic()
		st.Topic, st.NumPartitions, st.ReplicationFactor = rt.Topic, -1, -1
	}
	var loads []Broker // the brokers' loads, with the topics placed so far; nil until the first
	errs := c.operate(ctx, len(req.Topics), req.ValidateOnly, func(img *metadata.Image, i int) ([]metadata.Record, error) {
		rt := req.Topics[i]
		if seen[rt.Topic] > 1 {
			return nil, placementErr(kerr.InvalidRequest, "Duplicate topic name.")
		}
		if loads == nil {
			loads = placementBrokers(img)
		}
		records, err := c.createTopic(img, rt, loads)
		if err != nil {
			return nil, err
		}
		t := records[0].(*metadata.TopicRecord)
		st := &resp.Topics[i]
		st.TopicID = t.TopicID
		for _, r := range records {
			if p, ok := r.(*metadata.PartitionRecord); ok {
				st.NumPartitions = p.Partition + 1
				st.ReplicationFactor = int16(len(p.Replicas))
			}
		}
		return records, nil
	})
	for i, err := range errs {
		if err != nil {
			st := &resp.Topics[i]
			st.ErrorCode, st.ErrorMessage = errorCode(err)
			st.TopicID, st.NumPartitions, st.ReplicationFactor = [16]byte{}, -1, -1
		}
	}
	return resp
}

// createTopic validates one topic of a CreateTopics request against img
// and returns its records: the TopicRecord, its ConfigRecords, then its
// PartitionRecords, placed over loads (placementBrokers of img), to which
// it adds the new replicas.
func (c *Controller) createTopic(img *metadata.Image, rt kmsg.CreateTopicsRequestTopic, loads []Broker) ([]metadata.Record, error) {
	if err := c.checkTopicName(img, rt.Topic); err != nil {
		return nil, err
	}
	if _, exists := img.Topic(rt.Topic); exists {
		return nil, placementErr(kerr.TopicAlreadyExists, "Topic '%s' already exists.", rt.Topic)
	}
	req := Request{Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return nil, placementErr(kerr.InvalidRequest, "A manual partition assignment was specified, but numPartitions or replicationFactor was not set to -1.")
		}
		req.Partitions = 0
		req.ReplicationFactor = 0
		for _, a := range rt.ReplicaAssignment {
			req.Assignments = append(req.Assignments, Assignment{Partition: a.Partition, Replicas: a.Replicas})
		}
	} else {
		if req.Partitions == -1 {
			req.Partitions = c.cfg.DefaultPartitions
		}
		if req.ReplicationFactor == -1 {
			req.ReplicationFactor = c.cfg.DefaultReplicationFactor
		}
		if req.Partitions > c.maxPartitions() {
			return nil, placementErr(kerr.InvalidPartitions, "Number of partitions %d is more than %d (runnel.max.partitions.per.topic).", req.Partitions, c.maxPartitions())
		}
	}
	if len(req.Assignments) > int(c.maxPartitions()) {
		return nil, placementErr(kerr.InvalidPartitions, "%d partitions assigned, more than %d (runnel.max.partitions.per.topic).", len(req.Assignments), c.maxPartitions())
	}
	id := c.newTopicID(img)
	records := []metadata.Record{&metadata.TopicRecord{TopicID: id, Name: rt.Topic}}
	for _, cfg := range rt.Configs {
		if cfg.Value == nil {
			return nil, placementErr(kerr.InvalidConfig, "Null value not supported for topic configs: %s", cfg.Name)
		}
		if err := c.checkTopicConfig(cfg.Name, *cfg.Value); err != nil {
			return nil, err
		}
		records = append(records, &metadata.ConfigRecord{ResourceType: metadata.ResourceTopic, ResourceName: rt.Topic, Name: cfg.Name, Value: *cfg.Value})
	}
	replicas, err := Place(loads, req, c.rng)
	if err != nil {
		return nil, err
	}
	addLoad(loads, replicas)
	return append(records, c.partitionRecords(img, id, 0, replicas)...), nil
}

// checkTopicName applies the broker's name rules and refuses a name that
// collides with an existing topic's once '.' and '_' are taken as equal
// (they are in metric names), as Kafka's Topic.hasCollision does.
func (c *Controller) checkTopicName(img *metadata.Image, name string) error {
	if c.cfg.Rules.TopicName != nil {
		if err := c.cfg.Rules.TopicName(name); err != nil {
			return placementErr(kerr.InvalidTopicException, "%v", err)
		}
	}
	if name == "" || len(name) > metadata.MaxTopicNameLen {
		return placementErr(kerr.InvalidTopicException, "Topic name is empty or longer than %d characters.", metadata.MaxTopicNameLen)
	}
	if !strings.ContainsAny(name, "._") {
		return nil
	}
	norm := strings.ReplaceAll(name, ".", "_")
	for t := range img.Topics() {
		if t.Name() != name && strings.ReplaceAll(t.Name(), ".", "_") == norm {
			return placementErr(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", name, t.Name())
		}
	}
	return nil
}

// checkTopicConfig applies the broker's rules to one topic config.
func (c *Controller) checkTopicConfig(key, value string) error {
	if c.cfg.Rules.TopicConfig == nil {
		return nil
	}
	if err := c.cfg.Rules.TopicConfig(key, value); err != nil {
		return placementErr(kerr.InvalidConfig, "%v", err)
	}
	return nil
}

// DeleteTopics deletes topics named by name or (v6+) by id, as Kafka's
// ControllerApis.deleteTopics: a name or id given twice is INVALID_REQUEST,
// an unknown name UNKNOWN_TOPIC_OR_PARTITION, an unknown id
// UNKNOWN_TOPIC_ID. The answer comes once the removals are committed and
// applied here.
func (c *Controller) DeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if len(targets) == 0 { // v0-5 name topics in TopicNames
		for _, name := range req.TopicNames {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = kmsg.StringPtr(name)
			targets = append(targets, t)
		}
	}
	byName := func(t kmsg.DeleteTopicsRequestTopic) bool { return t.Topic != nil && *t.Topic != "" }
	names, ids := map[string]int{}, map[[16]byte]int{}
	for _, t := range targets {
		if byName(t) {
			names[*t.Topic]++
		} else {
			ids[t.TopicID]++
		}
	}
	resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, len(targets))
	errs := c.operate(ctx, len(targets), false, func(img *metadata.Image, i int) ([]metadata.Record, error) {
		tg := targets[i]
		st := &resp.Topics[i]
		*st = kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.Topic, tg.TopicID
		var t *metadata.Topic
		var ok bool
		switch {
		case byName(tg) && names[*tg.Topic] > 1, !byName(tg) && ids[tg.TopicID] > 1:
			return nil, placementErr(kerr.InvalidRequest, "Duplicate topic name or id.")
		case byName(tg):
			if t, ok = img.Topic(*tg.Topic); !ok {
				return nil, placementErr(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
			}
		default:
			if t, ok = img.TopicByID(tg.TopicID); !ok {
				return nil, placementErr(kerr.UnknownTopicID, "This server does not host this topic ID.")
			}
		}
		st.Topic, st.TopicID = kmsg.StringPtr(t.Name()), t.ID()
		return []metadata.Record{&metadata.RemoveTopicRecord{TopicID: t.ID()}}, nil
	})
	for i, err := range errs {
		resp.Topics[i].ErrorCode, resp.Topics[i].ErrorMessage = errorCode(err)
	}
	return resp
}

// CreatePartitions raises topics' partition counts: Count is the new total;
// an unknown topic is UNKNOWN_TOPIC_OR_PARTITION, a count not above the
// current one or above the cap INVALID_PARTITIONS, a topic named twice
// INVALID_REQUEST, a bad assignment INVALID_REPLICA_ASSIGNMENT. New
// partitions get the topic's replication factor (its first partition's).
func (c *Controller) CreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	errs := c.operate(ctx, len(req.Topics), req.ValidateOnly, func(img *metadata.Image, i int) ([]metadata.Record, error) {
		rt := req.Topics[i]
		if seen[rt.Topic] > 1 {
			return nil, placementErr(kerr.InvalidRequest, "Duplicate topic name.")
		}
		t, ok := img.Topic(rt.Topic)
		if !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
		current := t.NumPartitions()
		switch {
		case rt.Count < current:
			return nil, placementErr(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.", rt.Topic, current, rt.Count)
		case rt.Count == current:
			return nil, placementErr(kerr.InvalidPartitions, "Topic already has %d partition(s).", current)
		case rt.Count > c.maxPartitions():
			return nil, placementErr(kerr.InvalidPartitions, "Number of partitions %d is more than %d (runnel.max.partitions.per.topic).", rt.Count, c.maxPartitions())
		}
		var rf int16
		if p, ok := t.Partition(0); ok {
			rf = int16(len(p.Replicas))
		}
		preq := Request{FirstPartition: current, Partitions: rt.Count - current, ReplicationFactor: rf}
		for k, a := range rt.Assignment {
			preq.Assignments = append(preq.Assignments, Assignment{Partition: current + int32(k), Replicas: a.Replicas})
		}
		replicas, err := Place(placementBrokers(img), preq, c.rng)
		if err != nil {
			return nil, err
		}
		return c.partitionRecords(img, t.ID(), current, replicas), nil
	})
	for i, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		st.ErrorCode, st.ErrorMessage = errorCode(errs[i])
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
