import { createContext } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { visible } from "./format.js";

type Ask = (message: string, action: string) => Promise<boolean>;

export const ConfirmContext = createContext<Ask>(async () => false);
export const useConfirm = () => useContext(ConfirmContext);

interface Question {
  readonly message: string;
  readonly action: string;
  readonly answer: (yes: boolean) => void;
}

/**
 * Every destructive action asks here first: a modal <dialog> the user (or the browser test) answers. One question
 * at a time, in the order asked: Replay all asks only once its dry run answers, seconds after its click against a
 * slow API, and that question must not replace the one the operator is reading (a row's Discard) under the cursor,
 * its confirm button the same button.
 */
export function ConfirmDialog(props: { readonly setAsk: (ask: Ask) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [questions, setQuestions] = useState<readonly Question[]>([]);
  const question = questions[0];
  useEffect(() => {
    props.setAsk(
      (message, action) =>
        new Promise<boolean>((resolve) =>
          setQuestions((waiting) => [...waiting, { message, action, answer: resolve }]),
        ),
    );
  }, []);
  useEffect(() => {
    if (question && !ref.current?.open) ref.current?.showModal();
  }, [question]);
  // A click's `detail` counts the clicks of a double click: its second lands on the next waiting question, in the
  // same place, and must not answer it (a keyboard's press is 0).
  const click = (yes: boolean) => (e: MouseEvent) => {
    if (e.detail <= 1) answer(yes);
  };
  const answer = (yes: boolean) => {
    if (!question) return;
    // Closed only when no other question waits: the next one shows in the same dialog.
    if (questions.length === 1) ref.current?.close();
    question.answer(yes);
    setQuestions((waiting) => waiting.filter((q) => q !== question));
  };
  return (
    <dialog ref={ref} data-testid="confirm-dialog" onCancel={() => answer(false)}>
      <p data-testid="confirm-message">{visible(question?.message ?? "")}</p>
      <div class="row">
        <button type="button" data-testid="confirm-no" onClick={click(false)}>
          Cancel
        </button>
        <button type="button" class="danger" data-testid="confirm-yes" onClick={click(true)}>
          {question?.action ?? "OK"}
        </button>
      </div>
    </dialog>
  );
}
