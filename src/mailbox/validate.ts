// Syntax checks on what clients send. Each returns a human-readable reason, or null when valid.

import { PRINCIPAL_PATTERN, isValidUser } from '../identifiers.js';

export function userProblem(user: unknown): string | null {
  if (isValidUser(user)) return null;
  if (user === '.' || user === '..') return 'user must not be "." or ".."';
  return 'user must be 1-128 characters of A-Z a-z 0-9 _ . -';
}

/**
 * Client message ids, request ids and receipts: bounded length, no NUL (used as a key separator).
 * Ids beginning with "@" are reserved for ids the state machine derives itself.
 */
export function tokenProblem(what: string, value: unknown, maxLength: number, reserveAt: boolean): string | null {
  if (typeof value !== 'string' || value.length < 1 || value.length > maxLength) {
    return `${what} must be a string of 1-${maxLength} characters`;
  }
  if (value.includes('\u0000')) return `${what} must not contain NUL`;
  if (reserveAt && value.startsWith('@')) return `${what} must not start with "@" (reserved for derived ids)`;
  return null;
}

/** A duration in ms: a safe integer within [1, max]. */
export function durationProblem(what: string, value: unknown, max: number): string | null {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    return `${what} must be an integer between 1 and ${max} ms`;
  }
  return null;
}

/** The principal a command carries: '' (anonymous) or a capability principal (src/identifiers.ts). */
export function principalProblem(principal: unknown): string | null {
  if (principal === undefined || principal === '') return null;
  if (typeof principal === 'string' && PRINCIPAL_PATTERN.test(principal)) return null;
  return 'principal must be 1-64 characters of A-Z a-z 0-9 . _ @ : -';
}

/** A receipt nonce: base64url of 96 to 256 random bits, so the receipt stays a key-space token. */
export const RECEIPT_NONCE_PATTERN = /^[A-Za-z0-9_-]{16,43}$/;

export function receiptNonceProblem(nonce: unknown): string | null {
  if (nonce === undefined || (typeof nonce === 'string' && RECEIPT_NONCE_PATTERN.test(nonce))) return null;
  return 'receiptNonce must be 16-43 base64url characters';
}
