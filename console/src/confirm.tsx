import { createContext } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { visible } from "./format.js";

type Ask = (message: string, action: string) => Promise<boolean>;

export const ConfirmContext = createContext<Ask>(async () => false);
export const useConfirm = () => useContext(ConfirmContext);

/** Every destructive action asks here first: a modal <dialog> the user (or the browser test) answers. */
export function ConfirmDialog(props: { readonly setAsk: (ask: Ask) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [question, setQuestion] = useState<{
    message: string;
    action: string;
    answer: (yes: boolean) => void;
  }>();
  useEffect(() => {
    props.setAsk(
      (message, action) =>
        new Promise<boolean>((resolve) => setQuestion({ message, action, answer: resolve })),
    );
  }, []);
  useEffect(() => {
    if (question && !ref.current?.open) ref.current?.showModal();
  }, [question]);
  const answer = (yes: boolean) => {
    ref.current?.close();
    question?.answer(yes);
    setQuestion(undefined);
  };
  return (
    <dialog ref={ref} data-testid="confirm-dialog" onCancel={() => answer(false)}>
      <p data-testid="confirm-message">{visible(question?.message ?? "")}</p>
      <div class="row">
        <button type="button" data-testid="confirm-no" onClick={() => answer(false)}>
          Cancel
        </button>
        <button type="button" class="danger" data-testid="confirm-yes" onClick={() => answer(true)}>
          {question?.action ?? "OK"}
        </button>
      </div>
    </dialog>
  );
}
