/** What every operation resolves to: the status, the headers, the parsed body and the raw one. */
export interface ApiResponse<T> {
  statusCode: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The parsed body. */
  data: T;
  /** The same value as `data`, under the name the published SDKs also use. */
  result: T;
  /** The raw response text. */
  body: string;
}
