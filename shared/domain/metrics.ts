/** Metric names shared by the functions that publish them (EMF) and the CDK alarms that watch them. */
export const METRICS_NAMESPACE = "Punctual";
export const METRIC = {
  /** Callback start minus due time, milliseconds. */
  lateness: "DeliveryLateness",
  /** How long a callback took to answer, milliseconds. */
  callbackLatency: "CallbackLatency",
  delivered: "TasksDelivered",
  deadLettered: "TasksDeadLettered",
  attemptFailed: "DeliveryAttemptsFailed",
  accepted: "TasksAccepted",
} as const;

/** Powertools adds a `service` dimension; we add the topic. Alarms must use exactly these dimensions. */
export function serviceName(environment: string): string {
  return `punctual-${environment}`;
}
export const TOPIC_DIMENSION = "Topic";
