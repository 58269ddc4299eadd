import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import document from "../../docs/openapi.json" with { type: "json" };

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is JSON.
type Json = any;

interface Operation {
  readonly pattern: RegExp;
  readonly method: string;
  readonly responses: Readonly<Record<string, Json>>;
}

/**
 * Checks an API answer against the committed OpenAPI document (docs/openapi.json): the operation must exist, the
 * status must be one it documents, and a JSON body must match that status's schema. The end-to-end tests run every
 * answer they receive through it, so the document cannot drift from what the API really answers.
 */
export class OpenApiValidator {
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true });
  readonly #operations: Operation[] = [];
  readonly #validators = new Map<Json, ValidateFunction>();

  constructor(doc: Json = document) {
    addFormats.default(this.#ajv);
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      const pattern = new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`);
      for (const [method, operation] of Object.entries<Json>(item)) {
        this.#operations.push({ pattern, method: method.toUpperCase(), responses: operation.responses });
      }
    }
  }

  /** Problems with one answer; empty when it is documented and its body matches. Unknown paths are not judged. */
  problems(method: string, path: string, status: number, body: string): string[] {
    const pathOnly = path.split("?")[0] ?? path;
    const candidates = this.#operations.filter((o) => o.pattern.test(pathOnly));
    const operation = candidates.find((o) => o.method === method.toUpperCase());
    if (!operation) return []; // 404 / 405 from the $default route: not an operation of the document
    const response = operation.responses[String(status)];
    if (!response) return [`${method} ${pathOnly}: status ${status} is not documented`];
    const schema = response.content?.["application/json"]?.schema;
    if (!schema) return [];
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return [`${method} ${pathOnly} ${status}: the body is not JSON`];
    }
    let validate = this.#validators.get(schema);
    if (!validate) {
      validate = this.#ajv.compile(schema);
      this.#validators.set(schema, validate);
    }
    if (validate(json)) return [];
    return (validate.errors ?? []).map(
      (e) => `${method} ${pathOnly} ${status}: ${e.instancePath || "/"} ${e.message}`,
    );
  }
}
