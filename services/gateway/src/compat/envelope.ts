/** Seed 002's success envelope, `{ success: true, data }` (failures get theirs in `http/errors.ts`). */
export const ok = <T>(data: T) => ({ status: 200 as const, body: { success: true as const, data } });
