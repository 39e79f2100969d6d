import type { VideoHTMLAttributes } from "preact";
import { useEffect, useState } from "preact/hooks";
import { mediaAuth } from "./media.ts";

/** `m:ss` of a time in milliseconds. */
export const clock = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

/**
 * A <video> of one of the API's video routes: its Range requests go through the media service
 * worker, which adds the access token. Other props (event handlers) go to the element.
 */
export function Player({
  src,
  video,
  ...rest
}: {
  src: string;
  video: { current: HTMLVideoElement | null };
} & Omit<VideoHTMLAttributes<HTMLVideoElement>, "src" | "ref">) {
  const [ok, setOk] = useState<boolean | null>(null);
  useEffect(() => {
    mediaAuth().then(setOk);
  }, []);
  if (ok === null) return <div class="player placeholder" aria-busy="true" />;
  if (!ok) return <p class="error">This browser cannot play protected videos here (no service worker).</p>;
  return (
    <video
      ref={(el) => {
        video.current = el;
      }}
      class="player"
      controls
      preload="metadata"
      src={src}
      data-testid="player"
      {...rest}
    />
  );
}
