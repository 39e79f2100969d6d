/** Server-sent events as the tests read them. */

export interface ReceivedEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

/** One SSE block's event (`id:`, `event:`, `data:` lines); undefined for a block without `event:` (a comment). */
export function parseSseBlock(block: string): ReceivedEvent | undefined {
  let id = "";
  let event = "";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("id: ")) id = line.slice(4);
    else if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  return event === "" ? undefined : { id, event, data: JSON.parse(data.join("\n")) };
}

/** A whole SSE body's events, in order. */
export function parseSseEvents(text: string): ReceivedEvent[] {
  return text.split("\n\n").flatMap((block) => parseSseBlock(block) ?? []);
}
