// The Sluice client for TypeScript: openapi-fetch, typed by `schema.ts`, which
// openapi-typescript generates from api-spec/openapi.json. This file is written by
// hand and stays small; `schema.ts` is never edited (regenerate it with
// `bash scripts/sdks.sh generate`).
import createFetchClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** Every named schema of the API, e.g. `Schemas["SendMessageRequest"]`. */
export type Schemas = components["schemas"];

/** A client for every route of the API: `client.POST("/v1/messages", { body })`. */
export type SluiceClient = Client<paths>;

export interface SluiceClientOptions extends ClientOptions {
  /** Where Sluice listens, e.g. `https://sluice.example.com`. */
  baseUrl: string;
  /** A tenant API key (`sk_…`), or the admin token for `/v1/admin/…`. */
  apiKey: string;
}

/** A client that sends `Authorization: Bearer <apiKey>` with every request. */
export function createClient({ apiKey, ...options }: SluiceClientOptions): SluiceClient {
  const client = createFetchClient<paths>(options);
  client.use({
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${apiKey}`);
      return request;
    },
  });
  return client;
}
