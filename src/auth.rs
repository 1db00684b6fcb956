//! Tokens for Microsoft Graph (in progress).
