// The gates' default bounds, in one place (docs/policy.md lists them).
export const POLICY_LIMITS = {
  fetchRedirectsMax: 20,
  fetchResponseBytesMax: 10 * 1024 * 1024,
  fetchRequestBytesMax: 10 * 1024 * 1024,
  fetchTimeoutMs: 30_000,
  fetchRequestHeadersMax: 100,
  fsReadBytesMax: 10 * 1024 * 1024,
  fsWriteBytesMax: 10 * 1024 * 1024,
  fsReaddirEntriesMax: 10_000,
  fsPathCharsMax: 4096,
} as const;
