package broker

// Replication control settings (issue 13), with Kafka's names: the
// controlled shutdown's bound, the automatic leader rebalance the active
// controller runs, __consumer_offsets' replication factor, and the broker
// default of unclean.leader.election.enable (a topic config).

import (
	"math"
	"strconv"
	"strings"
	"time"

	"runnel/broker/controller"
)

// ControlConfig is the replication control part of Config.
type ControlConfig struct {
	// ControlledShutdownTimeout (runnel.controlled.shutdown.timeout.ms,
	// default 30 s) bounds how long Close waits for the controller to move
	// this broker's leaderships before it stops (controllerclient.Lifecycle,
	// which stops sooner when no controller answers).
	ControlledShutdownTimeout time.Duration
	// AutoLeaderRebalance (auto.leader.rebalance.enable, default true),
	// LeaderImbalanceCheckInterval (leader.imbalance.check.interval.seconds,
	// 300) and LeaderImbalancePercentage
	// (leader.imbalance.per.broker.percentage, 10): controller.RebalanceConfig's.
	AutoLeaderRebalance          bool
	LeaderImbalanceCheckInterval time.Duration
	LeaderImbalancePercentage    int32
	// OffsetsTopicReplicationFactor (offsets.topic.replication.factor,
	// default 3) is __consumer_offsets' replication factor, lowered to the
	// unfenced brokers when it is created.
	OffsetsTopicReplicationFactor int16
}

func defaultControlConfig() ControlConfig {
	return ControlConfig{
		ControlledShutdownTimeout:     30 * time.Second,
		AutoLeaderRebalance:           true,
		LeaderImbalanceCheckInterval:  300 * time.Second,
		LeaderImbalancePercentage:     10,
		OffsetsTopicReplicationFactor: 3,
	}
}

func init() {
	brokerKeys = append(brokerKeys,
		brokerKey{"runnel.controlled.shutdown.timeout.ms", setMs(func(c *Config) *time.Duration { return &c.Control.ControlledShutdownTimeout }, 0),
			func(c *Config) (string, bool) { return ms(c.Control.ControlledShutdownTimeout), true }},
		brokerKey{"auto.leader.rebalance.enable", func(c *Config, v string) error {
			if err := checkBool(v); err != nil {
				return err
			}
			c.Control.AutoLeaderRebalance = strings.EqualFold(strings.TrimSpace(v), "true")
			return nil
		}, func(c *Config) (string, bool) { return strconv.FormatBool(c.Control.AutoLeaderRebalance), true }},
		brokerKey{"leader.imbalance.check.interval.seconds", func(c *Config, v string) error {
			n, err := parseIntIn(v, 1, math.MaxInt32)
			c.Control.LeaderImbalanceCheckInterval = time.Duration(n) * time.Second
			return err
		}, func(c *Config) (string, bool) {
			return strconv.FormatInt(int64(c.Control.LeaderImbalanceCheckInterval/time.Second), 10), true
		}},
		brokerKey{"leader.imbalance.per.broker.percentage", setInt32(func(c *Config) *int32 { return &c.Control.LeaderImbalancePercentage }, 0),
			func(c *Config) (string, bool) { return itoa(c.Control.LeaderImbalancePercentage), true }},
		brokerKey{"offsets.topic.replication.factor", func(c *Config, v string) error {
			n, err := parseIntIn(v, 1, math.MaxInt16)
			c.Control.OffsetsTopicReplicationFactor = int16(n)
			return err
		}, func(c *Config) (string, bool) { return itoa(c.Control.OffsetsTopicReplicationFactor), true }},
		topicDefault(controller.UncleanLeaderElectionKey, controller.UncleanLeaderElectionKey, 1),
	)
}

// rebalance is the controller's leader rebalance configuration.
func (c ControlConfig) rebalance() controller.RebalanceConfig {
	return controller.RebalanceConfig{Enable: c.AutoLeaderRebalance, CheckInterval: c.LeaderImbalanceCheckInterval,
		Percentage: int(c.LeaderImbalancePercentage)}
}
