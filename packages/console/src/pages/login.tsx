import { useState } from "preact/hooks";
import { login, loginSecondFactor } from "../api.ts";
import { ErrorNote } from "../ui.tsx";

export function Login({ onDone }: { onDone: () => void }) {
  const [challenge, setChallenge] = useState<string | null>(null);
  const [recovery, setRecovery] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      if (challenge) {
        await loginSecondFactor(challenge, String(form.get("code")), recovery);
        onDone();
      } else {
        const r = await login(String(form.get("username")), String(form.get("password")));
        if (r.challenge) setChallenge(r.challenge);
        else onDone();
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" id="main">
      <h1>Trellis console</h1>
      <form onSubmit={submit} aria-describedby="login-help">
        {challenge ? (
          <>
            <p id="login-help">
              Two-factor login: enter the code from your authenticator app{recovery ? " or a recovery code" : ""}.
            </p>
            <label>
              {recovery ? "Recovery code" : "6-digit code"}
              <input
                name="code"
                required
                autoComplete="one-time-code"
                inputMode={recovery ? "text" : "numeric"}
                pattern={recovery ? undefined : "[0-9]{6}"}
              />
            </label>
            <button type="button" class="link" onClick={() => setRecovery(!recovery)}>
              {recovery ? "Use a code from the app" : "Use a recovery code"}
            </button>
          </>
        ) : (
          <>
            <p id="login-help">Log in with your Trellis account.</p>
            <label>
              Username
              <input name="username" required autoComplete="username" />
            </label>
            <label>
              Password
              <input name="password" type="password" required autoComplete="current-password" />
            </label>
          </>
        )}
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {challenge ? "Verify" : "Log in"}
        </button>
      </form>
    </main>
  );
}
