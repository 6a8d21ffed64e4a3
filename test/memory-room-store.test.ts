import t from 'tap'
import { createMemoryRoomStore } from '../src/rooms/memory-room-store.js'
import { roomStoreContract } from './room-store-contract.js'

roomStoreContract(t, async (t, capacity) => {
  const store = createMemoryRoomStore({ capacity })
  t.teardown(() => store.close())
  return store
})
