/** What a frontend or another service imports: the protocol types, and the app as a plugin. */
export * from './protocol.js'
export { default as app, type AppOptions } from './app.js'
export type { SignalingServer, SignalingSocket } from './events/event-router.js'
