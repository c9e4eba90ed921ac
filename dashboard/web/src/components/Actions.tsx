import { useEffect, useId, useRef, useState, type ReactNode } from 'react'
import { ApiError } from '../api'

export const buttonClass =
  'rounded-lg px-3 py-2 text-sm font-medium ring-1 ring-stone-300 hover:bg-stone-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-600 disabled:cursor-not-allowed disabled:opacity-50'
export const primaryClass =
  'rounded-lg bg-ember-700 px-3 py-2 text-sm font-medium text-white hover:bg-ember-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-600 disabled:cursor-not-allowed disabled:opacity-50'
export const dangerClass =
  'rounded-lg bg-red-700 px-3 py-2 text-sm font-medium text-white hover:bg-red-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-700 disabled:cursor-not-allowed disabled:opacity-50'
export const inputClass = 'rounded-lg border border-stone-300 bg-white px-3 py-2 text-sm'

/** Why an action was refused: the problem document's title and detail, as user-service wrote them. */
export function reason(e: unknown): string {
  if (!(e instanceof ApiError)) return String(e)
  return e.message && e.message !== e.title ? `${e.title}: ${e.message}` : e.title
}

export function ActionError({ error }: { error: unknown }) {
  if (!error) return null
  return (
    <p role="alert" className="mt-2 text-sm text-red-800">
      {reason(error)}
    </p>
  )
}

/**
 * A button whose action asks first: the question and a confirm button appear in place, focus moves to the
 * confirm button, Cancel goes back. A refusal shows its reason below.
 */
export function ConfirmAction({
  label,
  question,
  confirmLabel,
  onConfirm,
  danger = true,
}: {
  label: string
  question: ReactNode
  confirmLabel: string
  onConfirm: () => Promise<unknown>
  danger?: boolean
}) {
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const confirmRef = useRef<HTMLButtonElement>(null)
  const id = useId()
  useEffect(() => {
    if (open) confirmRef.current?.focus()
  }, [open])
  if (!open) {
    return (
      <div>
        <button type="button" className={buttonClass} onClick={() => setOpen(true)}>
          {label}
        </button>
        <ActionError error={error} />
      </div>
    )
  }
  return (
    <div role="group" aria-labelledby={id} className="rounded-lg border border-stone-200 bg-stone-50 p-3">
      <p id={id} className="text-sm text-stone-800">
        {question}
      </p>
      <div className="mt-3 flex flex-wrap gap-2">
        <button
          ref={confirmRef}
          type="button"
          disabled={busy}
          className={danger ? dangerClass : primaryClass}
          onClick={() => {
            setBusy(true)
            setError(null)
            onConfirm()
              .then(() => setOpen(false))
              .catch(setError)
              .finally(() => setBusy(false))
          }}
        >
          {busy ? 'Working…' : confirmLabel}
        </button>
        <button type="button" className={buttonClass} disabled={busy} onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
      <ActionError error={error} />
    </div>
  )
}
