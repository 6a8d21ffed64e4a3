/**
 * `signaling-server/client`: a mesh video call through this server, for the browser.
 * docs/client.md has the API and an example page.
 */
export { joinCall, type Call, type CallEvents, type JoinCallOptions, type Peer, type SignalingSocket } from './join-call.js'
export { CallError, type CallErrorCode } from './call-error.js'
export type { MediaKind } from './peer-link.js'
