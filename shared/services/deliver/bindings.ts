import {
  ConfigError,
  type PunctualConfig,
  topicConfig,
  topicMaxReceiveCount,
  topicQueueVisibilitySeconds,
} from "#shared/config/index.js";
import { type DeliveryRoute, TOPOLOGY_VARIABLE } from "#shared/contract/topology.js";
import type { DeliverBinding } from "./types.js";

/**
 * The topology's deliveries (queue ARN → topic and queues) joined with each topic's current configuration (the
 * deployed one with the runtime settings document applied), and the receive backstop and visibility timeout its queue
 * was deployed with.
 */
export function deliverBindings(
  current: PunctualConfig,
  deliveries: Readonly<Record<string, DeliveryRoute>>,
  deployed: PunctualConfig = current,
): Map<string, DeliverBinding> {
  const result = new Map<string, DeliverBinding>();
  const problems: string[] = [];
  for (const [arn, { topic, queueUrl, dlqUrl }] of Object.entries(deliveries)) {
    const resolved = topicConfig(current, topic);
    if (!resolved) {
      problems.push(`${TOPOLOGY_VARIABLE}.deliveries["${arn}"]: unknown topic ${JSON.stringify(topic)}`);
      continue;
    }
    // Runtime settings may lower maxAttempts, which changes no queue: the backstop is the deployed topic's.
    const asDeployed = topicConfig(deployed, topic) ?? resolved;
    const maxReceiveCount = topicMaxReceiveCount(asDeployed);
    const queueVisibilitySeconds = topicQueueVisibilitySeconds(asDeployed);
    result.set(arn, { topic: resolved, queueUrl, dlqUrl, maxReceiveCount, queueVisibilitySeconds });
  }
  if (problems.length > 0) throw new ConfigError(current.name, problems);
  return result;
}
