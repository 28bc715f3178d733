// The gates' default bounds, in one place (docs/policy.md lists them).
export const POLICY_LIMITS = {
  fetchRedirectsMax: 20,
  fetchResponseBytesMax: 10 * 1024 * 1024,
  fetchRequestBytesMax: 10 * 1024 * 1024,
  fetchTimeoutMs: 30_000,
  fetchRequestHeadersMax: 100,
  /** Fetches in flight through one gate: with the body bound, caps the host memory they hold. */
  fetchConcurrentMax: 16,
  /** fs operations in flight through one gate, for the same reason. */
  fsConcurrentMax: 16,
  /** Names and values of the code's request headers together. */
  fetchRequestHeaderBytesMax: 64 * 1024,
  fetchUrlCharsMax: 16 * 1024,
  /** Evaluation steps of one in-process decision (the README's policies take < 50). */
  regoDecisionStepsMax: 200_000,
  fsReadBytesMax: 10 * 1024 * 1024,
  fsWriteBytesMax: 10 * 1024 * 1024,
  fsReaddirEntriesMax: 10_000,
  fsPathCharsMax: 4096,
} as const;
