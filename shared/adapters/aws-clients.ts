/**
 * The SDK client settings every function shares (`new SQSClient({ ...AWS_CLIENT_DEFAULTS })`); region,
 * credentials and endpoints come from the environment (Lambda's, or the local cloud's AWS_ENDPOINT_URL_*).
 *
 * `cacheMiddleware`: resolve each command's middleware stack once per client instead of on every call. The
 * profile of the local burst showed stack resolution among the SDK's largest self-time entries; nothing here
 * changes a client's middleware after its first call, which is the option's one condition. The DynamoDB client
 * is the exception: lib-dynamodb's document client refuses the option (it adds marshalling per command).
 */
export const AWS_CLIENT_DEFAULTS = { cacheMiddleware: true } as const;
